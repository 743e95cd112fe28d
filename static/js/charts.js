// Report charts: each <canvas data-chart="ID"> draws the JSON in <script id="ID">, whose
// figures are also in the table beside it (the table is the accessible version).
(function () {
  "use strict";
  var COLOURS = ["#1f5fbf", "#e07b00", "#067647", "#b42318", "#6941c6", "#0e7490"];

  function draw(canvas) {
    var source = document.getElementById(canvas.dataset.chart);
    if (!source || typeof Chart === "undefined") return;
    var data = JSON.parse(source.textContent);
    var rightAxis = data.datasets.some(function (d) { return d.yAxisID === "y1"; });
    data.datasets.forEach(function (dataset, index) {
      var colour = COLOURS[index % COLOURS.length];
      dataset.backgroundColor = dataset.type === "bar" ? colour + "cc" : colour;
      dataset.borderColor = colour;
      dataset.spanGaps = true;
      dataset.pointRadius = data.labels.length > 60 ? 0 : 2;
      dataset.order = dataset.type === "line" ? 0 : 1;  // lines in front of bars
    });
    var scales = {y: {beginAtZero: true, title: {display: data.percent, text: "%"}}};
    if (rightAxis) scales.y1 = {beginAtZero: true, position: "right", grid: {drawOnChartArea: false}};
    canvas.chart = new Chart(canvas, {
      data: {labels: data.labels, datasets: data.datasets},
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        interaction: {mode: "index", intersect: false},
        plugins: {legend: {position: "bottom"}},
        scales: scales
      }
    });
  }

  function drawAll() {
    document.querySelectorAll("canvas[data-chart]").forEach(draw);
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", drawAll);
  else drawAll();
})();
