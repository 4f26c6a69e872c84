// The reveal page: the value stays masked until asked for, and can be copied without being shown.
document.addEventListener("DOMContentLoaded", function () {
  var value = document.querySelector("[data-reveal-value]");
  if (!value) {
    return;
  }
  var mask = document.querySelector("[data-reveal-mask]");
  var toggle = document.querySelector("[data-reveal-toggle]");
  toggle.addEventListener("click", function () {
    var showing = value.classList.toggle("d-none") === false;
    mask.classList.toggle("d-none", showing);
    toggle.textContent = showing ? "Hide" : "Show";
    toggle.setAttribute("aria-pressed", showing ? "true" : "false");
  });
  document.querySelector("[data-reveal-copy]").addEventListener("click", function () {
    navigator.clipboard.writeText(value.textContent).then(function () {
      document.querySelector("[data-reveal-copied]").classList.remove("d-none");
    });
  });
});
