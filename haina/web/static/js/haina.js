/* Haina console: CSRF header on HTMX requests, the narrow-screen navigation toggle, and ECharts
   charts whose option is embedded as JSON (<div data-echarts="id-of-json-script">). */
(function () {
  "use strict";

  function csrfToken() {
    var meta = document.querySelector('meta[name="csrf-token"]');
    return meta ? meta.getAttribute("content") : "";
  }

  // htmx 4 names its events htmx:phase:action; the request context sits in detail.ctx.
  document.addEventListener("htmx:config:request", function (event) {
    var token = csrfToken();
    var request = event.detail && event.detail.ctx && event.detail.ctx.request;
    if (token && request && request.headers) {
      request.headers["X-CSRF-Token"] = token;
    }
  });

  function setNavigation(open) {
    document.body.classList.toggle("nav-open", open);
    var toggle = document.querySelector("[data-nav-toggle]");
    if (toggle) toggle.setAttribute("aria-expanded", open ? "true" : "false");
  }

  document.addEventListener("click", function (event) {
    if (event.target.closest("[data-nav-toggle]")) {
      setNavigation(!document.body.classList.contains("nav-open"));
    } else if (document.body.classList.contains("nav-open") && !event.target.closest("#sidebar")) {
      setNavigation(false);
    }
  });

  document.addEventListener("keydown", function (event) {
    if (event.key === "Escape") setNavigation(false);
  });

  var charts = [];

  function renderCharts(root) {
    if (!window.echarts) return;
    root.querySelectorAll("[data-echarts]").forEach(function (element) {
      if (element.getAttribute("data-chart-ready")) return;
      var source = document.getElementById(element.getAttribute("data-echarts"));
      if (!source) return;
      var chart = window.echarts.init(element, null, { renderer: "canvas" });
      chart.setOption(JSON.parse(source.textContent));
      element.setAttribute("data-chart-ready", "true");
      charts.push(chart);
    });
  }

  window.addEventListener("resize", function () {
    charts.forEach(function (chart) { chart.resize(); });
    if (window.innerWidth >= 768) setNavigation(false);
  });

  document.addEventListener("DOMContentLoaded", function () { renderCharts(document); });
  document.addEventListener("htmx:after:swap", function () { renderCharts(document); });
})();
