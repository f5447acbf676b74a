// OpenHITL owner dashboard: copy buttons. The pages work without it (the fields can be selected by hand).
"use strict";
(() => {
  async function copy(button) {
    const field = document.querySelector(button.dataset.copy);
    if (!field) return;
    const text = field.value ?? field.textContent;
    try {
      await navigator.clipboard.writeText(text);
    } catch {
      field.select();
      document.execCommand("copy");
    }
    const label = button.textContent;
    button.textContent = "Copied";
    setTimeout(() => { button.textContent = label; }, 1500);
  }

  document.addEventListener("click", (event) => {
    const button = event.target.closest("button[data-copy]");
    if (button) copy(button);
  });
  document.addEventListener("focusin", (event) => {
    if (event.target.matches(".copy-row input[readonly]")) event.target.select();
  });
})();
