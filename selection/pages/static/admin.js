// The administrators' console: the round form's offering picker, its mode-dependent parts and
// the seed commitment; the inline capacity rows. Plain JavaScript, no inline handlers: every
// hook is a data- attribute or an id. Without JavaScript every form still works.
(function () {
  "use strict";

  function each(selector, fn, root) {
    Array.prototype.forEach.call((root || document).querySelectorAll(selector), fn);
  }

  // --- parts shown only with JavaScript, and those for one mode only ---------------------------
  function showJsOnly() {
    each("[data-js-only]", function (el) { el.hidden = false; });
  }

  function followMode() {
    var checked = document.querySelector('input[name="mode"]:checked');
    if (!checked) { return; }
    each("[data-mode-only]", function (el) {
      el.hidden = el.getAttribute("data-mode-only") !== checked.value;
    });
  }

  // --- the offering picker: search, select all of a category, a count -------------------------
  function countPicked() {
    var out = document.getElementById("picked-count");
    if (!out) { return; }
    var n = document.querySelectorAll('input[name="offering_ids"]:checked').length;
    out.textContent = out.getAttribute("data-count-template").replace("{n}", String(n));
  }

  function filterOfferings(text) {
    var wanted = text.trim().toLowerCase();
    each(".offering-choices li", function (li) {
      var hay = (li.getAttribute("data-search") || "").toLowerCase();
      li.hidden = wanted !== "" && hay.indexOf(wanted) === -1;
    });
    // A category with nothing shown is hidden too, its buttons with it.
    each(".picker-category", function (section) {
      section.hidden = section.querySelector(".offering-choices li:not([hidden])") === null;
    });
  }

  function pickCategory(button) {
    var category = button.getAttribute("data-pick-category");
    var on = button.getAttribute("data-pick") === "all";
    each('.offering-choices li[data-category="' + category + '"]', function (li) {
      if (li.hidden) { return; }
      var box = li.querySelector('input[type="checkbox"]');
      if (box && !box.disabled) { box.checked = on; }
    });
    countPicked();
  }

  // --- the seed: made and hashed here; only the hash is sent ----------------------------------
  function hex(bytes) {
    var out = "";
    for (var i = 0; i < bytes.length; i++) { out += ("0" + bytes[i].toString(16)).slice(-2); }
    return out;
  }

  function sha256Hex(text) {
    // SubtleCrypto exists only in a secure context (https, or http://127.0.0.1); elsewhere the
    // vendored js-sha256 (MIT) computes the same digest.
    if (window.isSecureContext && window.crypto && window.crypto.subtle) {
      return window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(text)).then(function (digest) {
        return { hash: hex(new Uint8Array(digest)), secure: true };
      });
    }
    if (typeof window.sha256 === "function") {
      return Promise.resolve({ hash: window.sha256(text), secure: false });
    }
    return Promise.reject(new Error("no sha256"));
  }

  function generateSeed(button) {
    var shown = document.getElementById("seed-shown");
    var failed = document.getElementById("seed-failed");
    var input = document.getElementById("seed-sha256");
    var bytes = new Uint8Array(16);
    try {
      window.crypto.getRandomValues(bytes);
    } catch (e) {
      failed.hidden = false;
      return;
    }
    var seed = hex(bytes);
    sha256Hex(seed).then(function (made) {
      document.getElementById("seed-value").textContent = seed;
      document.getElementById("seed-how").textContent = button.getAttribute(made.secure ? "data-secure-context" : "data-fallback");
      input.value = made.hash;
      failed.hidden = true;
      shown.hidden = false;
    }, function () {
      failed.hidden = false;
      shown.hidden = true;
    });
  }

  // --- inline capacity rows (htmx) -------------------------------------------------------------
  // A refusal (400, 409, 503) comes back as the row with its message in words: swap it in too.
  document.addEventListener("htmx:beforeSwap", function (event) {
    var status = event.detail.xhr.status;
    var elt = event.detail.requestConfig && event.detail.requestConfig.elt;
    if ((status === 400 || status === 409 || status === 503) && elt && elt.closest("[data-swap-errors]")) {
      event.detail.shouldSwap = true;
      event.detail.isError = false;
    }
  });

  // After a row is swapped: its field keeps the focus, and the live region says what happened.
  var swappedRow = null;
  document.addEventListener("htmx:beforeRequest", function (event) {
    var row = event.detail.elt.closest && event.detail.elt.closest("tr[data-offering]");
    swappedRow = row ? row.getAttribute("data-offering") : null;
  });
  document.addEventListener("htmx:afterSwap", function () {
    if (swappedRow === null) { return; }
    var row = document.getElementById("offering-" + swappedRow);
    swappedRow = null;
    var input = row && row.querySelector('input[name="capacity"]');
    if (!input) { return; }
    input.focus();
    var message = document.getElementById(input.getAttribute("aria-describedby"));
    var status = document.getElementById("capacity-status");
    if (status && message) { status.textContent = message.textContent.trim(); }
  });

  document.addEventListener("DOMContentLoaded", function () {
    showJsOnly();
    followMode();
    countPicked();
    each('input[name="mode"]', function (el) { el.addEventListener("change", followMode); });
    each('input[name="offering_ids"]', function (el) { el.addEventListener("change", countPicked); });
    each("[data-picker-search]", function (el) {
      el.addEventListener("input", function () { filterOfferings(el.value); });
      // Enter in the search box filters; it must not send the whole form.
      el.addEventListener("keydown", function (e) { if (e.key === "Enter") { e.preventDefault(); } });
    });
    each("[data-pick-category]", function (el) {
      el.addEventListener("click", function () { pickCategory(el); });
    });
    var seedButton = document.getElementById("generate-seed");
    if (seedButton) { seedButton.addEventListener("click", function () { generateSeed(seedButton); }); }
  });
})();
