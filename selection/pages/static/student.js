// The student's pages: countdowns, live seats, select / drop / waitlist with immediate feedback.
// Every word shown comes from the page (<template id="student-words">), in the page's language.
// Without this script the pages still work: the server writes the countdown and the seats, and
// every button is a plain form.
(function () {
  "use strict";

  function word(name, values) {
    var box = document.getElementById("student-words");
    var found = box && box.content.querySelector('[data-word="' + name + '"]');
    var text = found ? found.textContent : "";
    Object.keys(values || {}).forEach(function (key) {
      text = text.split("{" + key + "}").join(String(values[key]));
    });
    return text;
  }

  // ---- Countdowns to an opening, from the <time datetime>'s instant ----
  function tick() {
    document.querySelectorAll(".countdown[data-until]").forEach(function (el) {
      var left = Math.floor((Date.parse(el.getAttribute("data-until")) - Date.now()) / 1000);
      if (isNaN(left)) return;
      if (left <= 0) {
        el.textContent = word("open-now");
        el.removeAttribute("data-until");
        return;
      }
      var d = Math.floor(left / 86400), h = Math.floor(left % 86400 / 3600);
      var m = Math.floor(left % 3600 / 60), s = left % 60, parts = [];
      if (d) parts.push(word("d", { n: d }));
      if (d || h) parts.push(word("h", { n: h }));
      if (d || h || m) parts.push(word("min", { n: m }));
      parts.push(word("s", { n: s }));
      el.textContent = word("opens-in", { time: parts.join(" ") });
    });
  }

  function newKey() {
    var bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    return Array.prototype.map.call(bytes, function (b) { return (b + 256).toString(16).slice(1); }).join("");
  }

  function csrf() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  function sleep(ms) {
    return new Promise(function (resolve) { setTimeout(resolve, ms); });
  }

  function roundPage(root) {
    var roundId = root.getAttribute("data-round");
    var period = (parseInt(root.getAttribute("data-live-seconds"), 10) || 5) * 1000;
    var fairStart = parseInt(root.getAttribute("data-fair-start"), 10) || 0;
    var answerBox = document.getElementById("answer");
    var announce = document.getElementById("announce");
    var liveStatus = document.getElementById("live-status");
    var etag = null;
    var delay = period;
    var SLOW_FACTOR = 20;
    var timer = null;
    var known = mineState();

    // ---- What I hold, as the page shows it ----
    function mineState() {
      var state = {};
      document.querySelectorAll("#mine [data-status]").forEach(function (el) {
        state[el.getAttribute("data-offering")] = el.getAttribute("data-status");
      });
      return state;
    }

    function waiting() {
      return Object.keys(known).filter(function (id) { return known[id] === "waitlisted"; });
    }

    function refreshMine(was) {
      var url = "/rounds/" + encodeURIComponent(roundId) + "/mine" + (was.length ? "?was=" + was.join(",") : "");
      return fetch(url, { headers: { "HX-Request": "true" }, credentials: "same-origin" })
        .then(function (response) {
          if (response.status !== 200) return;
          return response.text().then(function (html) {
            var mine = document.getElementById("mine");
            mine.innerHTML = html;
            known = mineState();
            var promoted = mine.querySelector("[data-promoted]");
            if (promoted) {
              announce.textContent = promoted.textContent;
              answerBox.replaceChildren();  // an answer about the queue is out of date now
            }
          });
        })
        .catch(function () {});
    }

    function refreshList(focusOffering) {
      if (!window.htmx) return Promise.resolve();
      return window.htmx.ajax("GET", location.pathname + location.search, { target: "#offerings", swap: "innerHTML" })
        .then(function () {
          var again = focusOffering && document.querySelector(
            '#offerings li[data-offering="' + focusOffering + '"] form:not([hidden]) button');
          if (again && document.activeElement === document.body) again.focus();
        });
    }

    // ---- Live seats: polled while the page is visible; backs off on errors ----
    function applySeats(body) {
      var seats = body.s || {};
      document.querySelectorAll("#offerings li[data-offering]").forEach(function (li) {
        var entry = seats[li.getAttribute("data-offering")];
        if (!entry) return;
        var left = li.querySelector("[data-seats]"), queue = li.querySelector("[data-waiting]");
        if (left) left.textContent = entry[0];
        if (queue) queue.textContent = entry[1];
        // A full offering of a round with a waitlist offers its waitlist too.
        var join = li.querySelector("form.act-waitlist");
        if (join) join.hidden = entry[0] > 0;
      });
      if (body.m) {
        var now = {};
        body.m.forEach(function (m) { now[m[0]] = m[1]; });
        var changed = Object.keys(now).length !== Object.keys(known).length ||
          Object.keys(now).some(function (id) { return known[id] !== now[id]; });
        if (changed) {
          refreshMine(waiting()).then(function () { return refreshList(null); });
        }
      }
    }

    function poll() {
      timer = null;
      if (document.hidden) return;
      var url = "/rounds/" + encodeURIComponent(roundId) + "/seats" + (waiting().length ? "?mine=1" : "");
      var headers = { "HX-Request": "true" };
      if (etag) headers["If-None-Match"] = etag;
      var asked = Date.now();
      fetch(url, { headers: headers, cache: "no-store", credentials: "same-origin" })
        .then(function (response) {
          if (response.status === 304) return null;
          if (response.status !== 200) throw new Error(String(response.status));
          etag = response.headers.get("ETag");
          return response.json();
        })
        .then(function (body) {
          if (body) applySeats(body);
          // A slow answer means a busy service: the refresh steps back (an answer that took
          // t waits at least 20 t), so that the presses that matter get the service first.
          delay = Math.min(Math.max(period, (Date.now() - asked) * SLOW_FACTOR), 60000);
          liveStatus.textContent = "";
        })
        .catch(function () {
          delay = Math.min(delay * 2, 60000);
          liveStatus.textContent = word("live-paused");
        })
        .then(schedule);
    }

    function schedule() {
      if (timer === null && !document.hidden) {
        // A little jitter, so that a cohort's pages do not ask in the same instant.
        timer = setTimeout(poll, delay * (0.9 + Math.random() * 0.2));
      }
    }

    // htmx leaves an error answer unswapped: a list that could not be loaded says why, in the
    // answer region, and the list shown stays as it was.
    document.body.addEventListener("htmx:beforeSwap", function (event) {
      var xhr = event.detail.xhr;
      if (xhr && xhr.status >= 400) {
        event.detail.shouldSwap = false;
        show(xhr.responseText);
      }
    });
    document.body.addEventListener("htmx:sendError", function () {
      say(word("offline"), true);
    });

    document.addEventListener("visibilitychange", function () {
      if (document.hidden) {
        if (timer !== null) clearTimeout(timer);
        timer = null;
      } else {
        poll();
      }
    });

    // ---- Select, drop, join a waitlist: one intent per press, the same key for its retries ----
    function show(html) {
      answerBox.innerHTML = html;
      answerBox.querySelectorAll("[data-close]").forEach(function (button) { button.hidden = false; });
    }

    answerBox.querySelectorAll("[data-close]").forEach(function (button) { button.hidden = false; });
    answerBox.addEventListener("click", function (event) {
      if (event.target instanceof Element && event.target.closest("[data-close]")) {
        answerBox.replaceChildren();
        var heading = document.getElementById("offerings-heading");
        if (heading) { heading.setAttribute("tabindex", "-1"); heading.focus(); }
      }
    });

    function say(text, retry) {
      var box = document.createElement("div");
      box.className = "answer " + (retry ? "answer-refused answer-retry" : "answer-done");
      var p = document.createElement("p");
      p.textContent = text;
      box.appendChild(p);
      answerBox.replaceChildren(box);
    }

    function busy(button, label) {
      if (!button.hasAttribute("data-label")) button.setAttribute("data-label", button.textContent);
      button.setAttribute("aria-busy", "true");
      button.classList.add("busy");
      button.textContent = label;
    }

    function idle(button) {
      button.removeAttribute("aria-busy");
      button.classList.remove("busy");
      if (button.hasAttribute("data-label")) button.textContent = button.getAttribute("data-label");
    }

    async function send(form, button) {
      var key = form.getAttribute("data-key") || newKey();
      form.setAttribute("data-key", key);
      var offering = form.querySelector('input[name="offering_id"]').value;
      var body = new URLSearchParams(new FormData(form));
      busy(button, word("busy"));
      var held = null;
      if (fairStart > 0 && form.getAttribute("data-act") === "select") {
        held = setTimeout(function () {
          busy(button, word("held-button"));
          say(word("held"), false);
        }, 1500);
      }
      var response = null;
      for (var attempt = 0; attempt < 4; attempt++) {
        try {
          response = await fetch(form.action, {
            method: "POST",
            body: body,
            credentials: "same-origin",
            headers: { "Idempotency-Key": key, "X-CSRF-Token": csrf(), "HX-Request": "true" },
          });
        } catch (lost) {
          response = null;
        }
        if (response && response.status !== 503 && response.status !== 429) break;
        if (attempt === 3) break;
        var wait = response ? (parseInt(response.headers.get("Retry-After"), 10) || 1) * 1000 : 1000 * (attempt + 1);
        say(word("retrying"), true);
        await sleep(wait);
      }
      if (held !== null) clearTimeout(held);
      idle(button);
      if (response === null) {
        say(word("offline"), true);  // the key stays: pressing again repeats this same request
        return;
      }
      if (response.redirected && response.url.indexOf("/sign-in") !== -1) {
        say(word("signed-out"), true);
        return;
      }
      show(await response.text());
      if (response.status === 503 || response.status === 429) return;  // not decided: same key next time
      form.removeAttribute("data-key");  // a definitive answer: the next press is a new intent
      applyChanges(offering);
      etag = null;
      if (timer !== null) clearTimeout(timer);
      poll();
    }

    // A change's answer carries what it altered: the student's selections, and the rows of the
    // offerings it touched. Put them in place (the whole list is not fetched again).
    function applyChanges(offering) {
      var mineT = answerBox.querySelector("template[data-mine]");
      if (mineT) {
        document.getElementById("mine").replaceChildren(mineT.content.cloneNode(true));
        known = mineState();
        mineT.remove();
      }
      var rowsT = answerBox.querySelector("template[data-rows]");
      if (rowsT) {
        rowsT.content.querySelectorAll("li[data-offering]").forEach(function (li) {
          var old = document.querySelector('#offerings li[data-offering="' + li.getAttribute("data-offering") + '"]');
          if (old) old.replaceWith(li.cloneNode(true));
        });
        rowsT.remove();
      }
      var active = document.activeElement;
      if (!active || active === document.body || !active.isConnected) {
        var next = document.querySelector('#offerings li[data-offering="' + offering + '"] form:not([hidden]) button');
        var answer = answerBox.querySelector(".answer");
        if (next) next.focus(); else if (answer) answer.focus();
      }
    }

    document.addEventListener("submit", function (event) {
      var form = event.target;
      if (!(form instanceof HTMLFormElement) || !form.hasAttribute("data-act")) return;
      event.preventDefault();
      var button = event.submitter || form.querySelector("button");
      if (button.getAttribute("aria-busy") === "true") return;  // a second press of the same intent
      if (form.getAttribute("data-act") === "drop" && !button.hasAttribute("data-armed")) {
        // A seat given up may be gone at once: the first press asks, the second drops.
        button.setAttribute("data-armed", "1");
        button.setAttribute("data-label", button.textContent);
        button.textContent = word("confirm-drop");
        setTimeout(function () {
          if (button.getAttribute("aria-busy") !== "true") {
            button.removeAttribute("data-armed");
            idle(button);
          }
        }, 5000);
        return;
      }
      button.removeAttribute("data-armed");
      send(form, button);
    });

    schedule();
  }

  document.addEventListener("DOMContentLoaded", function () {
    if (document.querySelector(".countdown[data-until]")) {
      tick();
      setInterval(tick, 1000);
    }
    var root = document.querySelector(".student-round[data-round]");
    if (root) roundPage(root);
  });
})();
