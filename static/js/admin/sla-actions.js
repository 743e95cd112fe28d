// Admin › SLA policy › Threshold actions: each action shows the fields its kind uses
// (the model's validation is the rule; this only keeps the form short). Without
// JavaScript every field shows.
(function () {
  "use strict";
  var FIELDS_OF_KIND = {
    raise_priority: ["priority"],
    enter_step: ["step"],
    move_queue: ["queue"],
    assign_agent: ["agent"],
    notify: ["notify", "team", "by_email"],
  };
  var KIND_FIELDS = ["priority", "step", "queue", "agent", "notify", "team", "by_email"];

  function value(form, name) {
    var field = form.querySelector("[name$='-" + name + "']");
    return field ? field.value : "";
  }

  function show(form) {
    var kind = value(form, "kind");
    var wanted = FIELDS_OF_KIND[kind] || KIND_FIELDS;
    if (kind === "notify") {
      wanted = value(form, "notify") === "team_channel" ? ["notify", "team"] : ["notify", "by_email"];
    }
    KIND_FIELDS.forEach(function (name) {
      form.querySelectorAll(".form-row.field-" + name).forEach(function (box) {
        box.style.display = wanted.indexOf(name) === -1 ? "none" : "";  // not `hidden`: admin CSS sets display
      });
    });
  }

  function formOf(element) {
    return element.closest(".inline-related");
  }

  document.addEventListener("change", function (event) {
    var name = event.target.name || "";
    if (/^actions-\d+-(kind|notify)$/.test(name)) show(formOf(event.target));
  });
  document.addEventListener("formset:added", function (event) {
    if (event.detail && event.detail.formsetName === "actions") show(event.target);
  });
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("#actions-group .inline-related:not(.empty-form)").forEach(show);
  });
})();
