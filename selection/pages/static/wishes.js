// The lottery pages, made better with JavaScript; each works without it (plain forms).
// - The wish list is edited in place (Up/Down/Remove buttons, Alt+Up/Alt+Down on a focused wish,
//   dragging a wish by its handle with a mouse, a pen or a finger) and saved whole, shortly after
//   each change or at once with "Save now", through the same page route the forms use.
// - The offerings are filtered as one types.
// - The draw form checks the seed's sha256 against the round's commitment before sending it.
// Every word shown comes from the page (data-msg-* attributes), in the page's language.
(function () {
  "use strict";

  var SAVE_AFTER_MS = 1000;

  function fill(pattern, values) {
    return (pattern || "").replace(/%\((\w+)\)s/g, function (_, key) {
      return Object.prototype.hasOwnProperty.call(values, key) ? String(values[key]) : "";
    });
  }

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function offerFilter(editor) {
    var offers = document.getElementById("offer-list");
    var query = document.getElementById("offer-q");
    var category = document.getElementById("offer-category");
    var count = document.getElementById("offer-count");
    if (!offers || !query || !category) {
      return function () {};
    }
    function matches(offer) {
      var needle = query.value.trim().toLowerCase();
      return (!needle || offer.dataset.search.indexOf(needle) >= 0) &&
        (!category.value || offer.dataset.category === category.value);
    }
    function apply(announce) {
      var shown = 0;
      offers.querySelectorAll("li.offer").forEach(function (offer) {
        var show = !offer.dataset.wished && matches(offer);
        offer.hidden = !show;
        if (show) { shown += 1; }
      });
      if (announce && count) { count.textContent = fill(editor.dataset.msgShown, { n: shown }); }
    }
    query.addEventListener("input", function () { apply(true); });
    category.addEventListener("change", function () { apply(true); });
    query.form.addEventListener("submit", function (event) {
      event.preventDefault();
      apply(true);
    });
    return apply;
  }

  function wishEditor(editor, refilter) {
    var list = document.getElementById("wish-list");
    var status = document.getElementById("wish-status");
    var saveButton = document.getElementById("wish-save");
    var template = document.getElementById("wish-template");
    var empty = document.getElementById("wish-empty");
    var msg = editor.dataset;
    var announcer = document.createElement("p");
    announcer.className = "visually-hidden";
    announcer.setAttribute("aria-live", "polite");
    announcer.id = "wish-announce";
    list.parentNode.insertBefore(announcer, list);

    function items() { return Array.prototype.slice.call(list.querySelectorAll("li.wish")); }
    function order() { return items().map(function (li) { return li.dataset.offering; }); }
    var saved = order().join("\n");
    var timer = null;
    var inFlight = false;
    var again = false;

    function dirty() { return order().join("\n") !== saved; }

    function setState(kind, text) {
      var p = document.createElement("p");
      p.className = "wish-state wish-" + kind;
      p.dataset.state = kind;
      p.textContent = text;
      status.replaceChildren(p);
    }

    function announce(text) { announcer.textContent = text; }

    function renumber() {
      var all = items();
      all.forEach(function (li, i) {
        li.querySelector(".rank").textContent = String(i + 1);
        var up = li.querySelector('button[value="up"]');
        var down = li.querySelector('button[value="down"]');
        if (up) { up.disabled = i === 0; }
        if (down) { down.disabled = i === all.length - 1; }
      });
      empty.hidden = all.length > 0;
    }

    function changed() {
      renumber();
      setState("unsaved", msg.msgUnsaved);
      saveButton.hidden = false;
      clearTimeout(timer);
      timer = setTimeout(save, SAVE_AFTER_MS);
    }

    function save() {
      clearTimeout(timer);
      if (inFlight) { again = true; return; }
      inFlight = true;
      var sending = order();
      var body = new URLSearchParams();
      body.append("action", "save");
      sending.forEach(function (id) { body.append("order", id); });
      setState("saving", msg.msgSaving);
      fetch(msg.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "X-CSRF-Token": csrfToken(), "HX-Request": "true" },
        body: body
      }).then(function (response) {
        return response.text().then(function (text) {
          if (response.redirected || text.indexOf('class="wish-state') < 0) {
            // Not the status fragment: sent to sign in (the session ended), or an error page.
            setState("error", response.redirected ? msg.msgSignedOut : msg.msgReload);
            saveButton.hidden = false;
            return;
          }
          status.innerHTML = text;
          if (response.ok) {
            saved = sending.join("\n");
            if (dirty()) { changed(); } else { saveButton.hidden = true; }
          } else {
            saveButton.hidden = false;
          }
        });
      }).catch(function () {
        setState("error", msg.msgOffline);
        saveButton.hidden = false;
      }).finally(function () {
        inFlight = false;
        if (again) { again = false; save(); }
      });
    }

    function titleOf(li) { return li.dataset.title || li.dataset.offering; }

    function moveBy(li, delta) {
      var active = document.activeElement;
      if (delta < 0 && li.previousElementSibling) {
        list.insertBefore(li, li.previousElementSibling);
      } else if (delta > 0 && li.nextElementSibling) {
        list.insertBefore(li.nextElementSibling, li);
      } else {
        return;
      }
      changed();
      var all = items();
      announce(fill(msg.msgMoved, { title: titleOf(li), rank: all.indexOf(li) + 1, count: all.length }));
      if (active && li.contains(active) && !active.disabled) { active.focus(); } else { li.focus(); }
    }

    function add(offer) {
      var li = template.content.firstElementChild.cloneNode(true);
      var id = offer.dataset.offering;
      var title = offer.dataset.title;
      li.id = "wish-" + id;
      li.dataset.offering = id;
      li.dataset.title = title;
      li.querySelector(".offering-card").innerHTML = offer.querySelector(".offering-card").innerHTML;
      li.querySelector('input[name="offering_id"]').value = id;
      li.querySelector('button[value="up"]').setAttribute("aria-label", fill(msg.labelUp, { title: title }));
      li.querySelector('button[value="down"]').setAttribute("aria-label", fill(msg.labelDown, { title: title }));
      li.querySelector('button[value="remove"]').setAttribute("aria-label", fill(msg.labelRemove, { title: title }));
      list.appendChild(li);
      // The next offering's button keeps the focus, for adding several in a row.
      var next = offer.nextElementSibling;
      while (next && next.hidden) { next = next.nextElementSibling; }
      offer.dataset.wished = "1";
      offer.hidden = true;
      changed();
      announce(fill(msg.msgAdded, { title: title, rank: items().length }));
      var target = next ? next.querySelector("button") : li;
      if (target) { target.focus(); }
    }

    function remove(li) {
      var all = items();
      var at = all.indexOf(li);
      var id = li.dataset.offering;
      li.remove();
      var offer = document.getElementById("offer-" + id);
      if (offer) { delete offer.dataset.wished; }
      refilter(false);
      changed();
      announce(fill(msg.msgRemoved, { title: titleOf(li) }));
      var rest = items();
      var target = rest[Math.min(at, rest.length - 1)] || document.getElementById("list-heading");
      if (target === document.getElementById("list-heading")) { target.setAttribute("tabindex", "-1"); }
      target.focus();
    }

    // The forms' buttons act here, without a reload; the forms stay for pages without JavaScript.
    editor.addEventListener("submit", function (event) {
      var form = event.target;
      var button = event.submitter;
      if (!button || !(form.classList.contains("wish-controls") || form.classList.contains("offer-controls"))) {
        return;
      }
      event.preventDefault();
      if (button.value === "add") {
        add(form.closest("li.offer"));
      } else if (button.value === "remove") {
        remove(form.closest("li.wish"));
      } else {
        moveBy(form.closest("li.wish"), button.value === "up" ? -1 : 1);
      }
    });

    list.addEventListener("keydown", function (event) {
      if (!event.altKey || (event.key !== "ArrowUp" && event.key !== "ArrowDown")) { return; }
      var li = event.target.closest("li.wish");
      if (!li) { return; }
      event.preventDefault();
      moveBy(li, event.key === "ArrowUp" ? -1 : 1);
    });

    // Dragging by the handle: pointer events, so a mouse, a pen and a finger all work.
    list.addEventListener("pointerdown", function (event) {
      var handle = event.target.closest(".drag-handle");
      if (!handle || event.button > 0) { return; }
      var li = handle.closest("li.wish");
      var before = order().join("\n");
      event.preventDefault();
      li.classList.add("dragging");
      function follow(moved) {
        var y = moved.clientY;
        var others = items().filter(function (other) { return other !== li; });
        var target = null;
        for (var i = 0; i < others.length; i += 1) {
          var box = others[i].getBoundingClientRect();
          if (y < box.top + box.height / 2) { target = others[i]; break; }
        }
        if (target) {
          if (li.nextElementSibling !== target) { list.insertBefore(li, target); }
        } else if (list.lastElementChild !== li) {
          list.appendChild(li);
        }
        renumber();
      }
      function drop() {
        document.removeEventListener("pointermove", follow);
        document.removeEventListener("pointerup", drop);
        document.removeEventListener("pointercancel", drop);
        li.classList.remove("dragging");
        if (order().join("\n") !== before) {
          changed();
          var all = items();
          announce(fill(msg.msgMoved, { title: titleOf(li), rank: all.indexOf(li) + 1, count: all.length }));
        }
      }
      document.addEventListener("pointermove", follow);
      document.addEventListener("pointerup", drop);
      document.addEventListener("pointercancel", drop);
    });

    saveButton.addEventListener("click", save);
    window.addEventListener("beforeunload", function (event) {
      if (dirty()) { event.preventDefault(); event.returnValue = ""; }
    });
    list.querySelectorAll(".drag-handle").forEach(function (handle) { handle.hidden = false; });
    editor.classList.add("enhanced");
  }

  function seedCheck(form) {
    var commitment = form.dataset.commitment;
    var input = document.getElementById("seed");
    var out = document.getElementById("seed-check");
    var checked = false;
    input.addEventListener("input", function () { checked = false; out.textContent = ""; out.className = "seed-check"; });
    form.addEventListener("submit", function (event) {
      if (!commitment || checked) { return; }
      if (!(window.crypto && window.crypto.subtle && window.TextEncoder)) {
        out.textContent = form.dataset.msgUnchecked;
        return;
      }
      event.preventDefault();
      window.crypto.subtle.digest("SHA-256", new TextEncoder().encode(input.value)).then(function (digest) {
        var hex = Array.prototype.map.call(new Uint8Array(digest), function (b) {
          return b.toString(16).padStart(2, "0");
        }).join("");
        if (hex === commitment.toLowerCase()) {
          out.className = "seed-check good";
          out.textContent = form.dataset.msgMatch;
          checked = true;
          form.submit();
        } else {
          out.className = "seed-check bad";
          out.textContent = form.dataset.msgMismatch;
          input.focus();
        }
      }, function () {
        checked = true;
        form.submit();
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    var editor = document.getElementById("wish-editor");
    if (editor) {
      var refilter = offerFilter(editor);
      if (editor.dataset.editable) { wishEditor(editor, refilter); }
    }
    var drawForm = document.getElementById("draw-form");
    if (drawForm) { seedCheck(drawForm); }
  });
}());
