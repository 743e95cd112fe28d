// The portal's small amount of behaviour. Every page works without it: forms post and
// redirect, times are rendered by the server. With it: live SLA countdowns, the `n`
// shortcut for "Get next work", and times shown in the browser's own time zone.
(function () {
  "use strict";
  document.documentElement.classList.add("js");

  // Times in the browser's zone: the server reads this cookie (wfo/middleware.py).
  try {
    var zone = Intl.DateTimeFormat().resolvedOptions().timeZone;
    // IANA names ("America/New_York") are cookie-safe as they are; the server reads them raw.
    if (zone && /^[A-Za-z0-9_+\-\/]+$/.test(zone) && document.cookie.indexOf("wfo_tz=" + zone) === -1) {
      document.cookie = "wfo_tz=" + zone + "; path=/; max-age=31536000; samesite=lax";
    }
  } catch (e) { /* keep the server's zone */ }

  function words(seconds) {
    var s = Math.floor(Math.abs(seconds));
    var days = Math.floor(s / 86400), hours = Math.floor((s % 86400) / 3600);
    var minutes = Math.floor((s % 3600) / 60), secs = s % 60;
    if (days) return days + " d " + hours + " h";
    if (hours) return hours + " h " + minutes + " min";
    if (minutes >= 10) return minutes + " min";
    return minutes + " min " + (secs < 10 ? "0" : "") + secs + " s";
  }

  // An SLA clock counts working time: the server says how much was left when the page was
  // made and until when the clock runs by itself (the working window's close); the state
  // follows allocation/sla/clock.py: warning from the first warning threshold, breached at
  // due — both given as seconds from the server's now, so a browser whose clock is wrong
  // still says the right state. Closed and paused clocks carry no times and stay as they are.
  var STATES = ["sla-on_track", "sla-warning", "sla-breached"];
  var LABELS = {"sla-on_track": "On track", "sla-warning": "Warning", "sla-breached": "Breached"};

  function tick() {
    var now = Date.now();
    document.querySelectorAll("[data-sla][data-due-in]").forEach(function (el) {
      // Counted from when this element was first seen (a fragment htmx swapped in is new).
      if (!el.dataset.seenAt) el.dataset.seenAt = String(now);
      var loaded = Number(el.dataset.seenAt), passed = (now - loaded) / 1000;
      var countdown = el.querySelector(".countdown");
      if (countdown && el.dataset.remaining !== undefined) {
        var until = el.dataset.tickingFor !== undefined ? loaded + Number(el.dataset.tickingFor) * 1000 : Infinity;
        var left = Number(el.dataset.remaining) - (Math.min(now, until) - loaded) / 1000;
        countdown.textContent = left >= 0 ? words(left) + " left" : "overdue by " + words(left);
      }
      var dueIn = Number(el.dataset.dueIn);
      var warnIn = el.dataset.warnIn !== undefined ? Number(el.dataset.warnIn) : Infinity;
      var state = passed >= dueIn ? "sla-breached" : passed >= warnIn ? "sla-warning" : "sla-on_track";
      if (!el.classList.contains(state)) {
        STATES.forEach(function (name) { el.classList.remove(name); });
        el.classList.add(state);
        var word = el.querySelector(".sla-word");
        if (word) word.textContent = LABELS[state];
      }
    });
  }

  // Controls a letter key does nothing in: `n` still means "get next" while one has focus
  // (an agent who has just chosen "Available" presses n straight away).
  var KEYLESS_INPUTS = ["radio", "checkbox", "button", "submit", "reset", "range", "color", "file", "image"];

  function typing(target) {
    if (!target || !target.closest) return false;
    if (target.isContentEditable) return true;
    var field = target.closest("input, textarea, select");
    if (!field) return false;
    return !(field.tagName === "INPUT" && KEYLESS_INPUTS.indexOf(field.type) !== -1);
  }

  document.addEventListener("keydown", function (event) {
    if (event.key !== "n" || event.ctrlKey || event.metaKey || event.altKey || typing(event.target)) return;
    var form = document.getElementById("get-next-form");
    if (!form) return;
    event.preventDefault();
    var button = form.querySelector("button[type=submit]");
    if (button && button.disabled) {
      // Get-next would refuse: point at why instead of posting.
      var why = document.getElementById("get-next-why");
      if (why) { why.setAttribute("tabindex", "-1"); why.focus(); }
      return;
    }
    form.requestSubmit();
  });

  document.addEventListener("DOMContentLoaded", function () {
    tick();
    setInterval(tick, 1000);
  });
  // A list htmx just swapped in gets its live clocks at once, not up to a second later.
  document.addEventListener("htmx:afterSettle", tick);

  // A refreshing table waits while a person fills in a form inside it (a live agents row's
  // "Set away or offline"): swapped, the form would close under their hands.
  document.addEventListener("htmx:beforeRequest", function (event) {
    var el = event.detail && event.detail.elt;
    if (el && el.hasAttribute("data-hold-while-open") && el.querySelector("details[open]")) event.preventDefault();
  });

  // A refresh answered 304 Not Modified (the inbox: nothing changed) swaps nothing; the
  // list still says when it was last checked.
  document.addEventListener("htmx:afterRequest", function (event) {
    var xhr = event.detail && event.detail.xhr, el = event.detail && event.detail.elt;
    if (!xhr || xhr.status !== 304 || !el) return;
    var at = el.querySelector(".refreshed-at");
    if (at) at.textContent = new Date().toTimeString().slice(0, 8);
  });
})();
