// The dashboard works without JavaScript; this only saves a click: the filter form's
// selects submit it when changed.
document.querySelectorAll("select.autosubmit").forEach(function (select) {
  select.addEventListener("change", function () { select.form.submit(); });
});
