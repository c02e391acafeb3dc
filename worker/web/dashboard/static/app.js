// wirewatch dashboard: the little that must happen without a reload. No framework, no build.
(function () {
  "use strict";
  var csrfMeta = document.querySelector('meta[name="csrf-token"]');
  var csrf = csrfMeta ? csrfMeta.getAttribute("content") : "";

  function toSignIn() {
    window.location.assign("/ui/signin?next=" + encodeURIComponent(location.pathname + location.search));
  }

  function request(url, options) {
    options = options || {};
    options.credentials = "same-origin";
    options.headers = Object.assign({ "X-CSRF-Token": csrf, Accept: "text/html, application/json" }, options.headers || {});
    return fetch(url, options).then(function (response) {
      if (response.status === 401) { toSignIn(); throw new Error("signed out"); }
      return response;
    });
  }

  function postJson(url, body) {
    return request(url, { method: "POST", headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) });
  }

  // -- alerts: details on demand, new rows by polling ----------------------------------------
  function wireDetails(root) {
    root.querySelectorAll("details[data-detail]").forEach(function (details) {
      details.addEventListener("toggle", function () {
        if (!details.open || details.dataset.loaded) { return; }
        details.dataset.loaded = "1";
        var box = details.querySelector(".detail");
        request(details.dataset.detail).then(function (r) { return r.text(); }).then(function (html) {
          box.innerHTML = html;
        }).catch(function () { box.textContent = "Could not load the story and deliveries."; delete details.dataset.loaded; });
      });
    });
  }

  function newestTime(list) {
    var first = list.querySelector("li.alert");
    var at = first ? Date.parse(first.dataset.at) : NaN;
    return isNaN(at) ? Date.now() / 1000 - 3600 : at / 1000;
  }

  function pollAlerts(list) {
    var status = document.getElementById("live-status");
    var url = list.dataset.live;
    function poll() {
      request(url + "&after=" + newestTime(list)).then(function (r) { return r.text(); }).then(function (html) {
        var holder = document.createElement("ol");
        holder.innerHTML = html;
        var fresh = Array.prototype.filter.call(holder.querySelectorAll("li.alert"), function (li) {
          return !list.querySelector('li.alert[data-id="' + CSS.escape(li.dataset.id) + '"]');
        });
        fresh.reverse().forEach(function (li) {
          li.classList.add("fresh");
          list.insertBefore(li, list.firstChild);
          wireDetails(li);
        });
        if (fresh.length) {
          var empty = document.getElementById("no-alerts");
          if (empty) { empty.remove(); }
          status.textContent = fresh.length + " new alert" + (fresh.length === 1 ? "" : "s") + " at " + new Date().toLocaleTimeString() + ".";
          markRows();
        }
      }).catch(function () { /* the next poll tries again */ }).then(function () {
        window.setTimeout(poll, 3000);
      });
    }
    window.setTimeout(poll, 3000);
  }

  var rowsMarked = false;
  function markRows() {
    // The figure bench/dashboard.py reads: when the first alert rows were on the page.
    if (!rowsMarked && document.querySelector("li.alert")) {
      rowsMarked = true;
      performance.mark("wirewatch-alert-rows");
    }
  }

  // -- the watchlist editor: syntax check and back-test as you type --------------------------
  function wireEditor(form) {
    var query = form.querySelector("#w-query");
    var check = document.getElementById("query-check");
    var backtest = document.getElementById("backtest");
    var against = form.dataset.against || null;
    var timer = null;
    var asked = 0;

    function showError(problem) {
      check.innerHTML = "";
      check.className = "check bad";
      var message = document.createElement("p");
      message.id = "query-error";
      message.textContent = "Position " + problem.position + ": " + problem.message;
      var pre = document.createElement("pre");
      pre.className = "caret";
      pre.textContent = problem.query + "\n" + problem.caret;
      check.appendChild(message);
      check.appendChild(pre);
      query.setAttribute("aria-invalid", "true");
    }

    function run() {
      var text = query.value;
      var ticket = ++asked;
      if (!text.trim()) { check.textContent = ""; check.className = "check"; return; }
      postJson("/ui/api/parse", { query: text }).then(function (r) { return r.json(); }).then(function (result) {
        if (ticket !== asked) { return; }
        if (!result.ok) { showError(result); return; }
        check.className = "check good";
        check.textContent = "The query parses.";
        query.removeAttribute("aria-invalid");
        if (!backtest) { return; }
        backtest.setAttribute("aria-busy", "true");
        return postJson("/ui/api/backtest", { query: text, against: against }).then(function (r) { return r.text(); }).then(function (html) {
          if (ticket !== asked) { return; }
          backtest.innerHTML = html;
          backtest.removeAttribute("aria-busy");
        });
      }).catch(function () { /* signed out, or the network: the next keystroke tries again */ });
    }

    query.addEventListener("input", function () {
      window.clearTimeout(timer);
      timer = window.setTimeout(run, 300);
    });
    if (query.value.trim()) { run(); }
  }

  document.addEventListener("DOMContentLoaded", function () {
    markRows();
    wireDetails(document);
    var list = document.getElementById("alerts");
    if (list && list.dataset.live) { pollAlerts(list); }
    var editor = document.getElementById("editor");
    if (editor) { wireEditor(editor); }
  });
})();
