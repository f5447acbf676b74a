// OpenHITL owner dashboard: copy buttons, the phone menu, tables as cards on phones, and the "try it" form
// (examples per response type, its result followed live). The pages work without it.
"use strict";
(() => {
  const $ = (selector, root = document) => root.querySelector(selector);
  const $$ = (selector, root = document) => Array.from(root.querySelectorAll(selector));

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

  // On small screens the navigation folds behind a Menu button (app.css shows the button only there).
  function wireMenu() {
    const sidebar = $(".sidebar");
    const button = $("[data-menu-button]");
    if (!sidebar || !button) return;
    const show = (open) => {
      sidebar.classList.toggle("open", open);
      button.setAttribute("aria-expanded", String(open));
    };
    sidebar.classList.add("collapsible");
    button.hidden = false;
    button.addEventListener("click", () => show(button.getAttribute("aria-expanded") !== "true"));
    document.addEventListener("keydown", (event) => {
      if (event.key === "Escape" && sidebar.classList.contains("open")) {
        show(false);
        button.focus();
      }
    });
  }

  // Each cell carries its column's name, so that a phone can show every row as a card (app.css).
  function labelTables(root) {
    $$("table.data", root).forEach((table) => {
      const names = $$("thead th", table).map((th) => th.textContent.trim());
      $$("tbody tr", table).forEach((row) => {
        Array.from(row.cells).forEach((cell, index) => {
          if (cell.colSpan === 1 && names[index]) cell.dataset.label = names[index];
        });
      });
      table.classList.add("cards-on-phone");
    });
  }

  // A table or code example still wider than its box says so, and can be scrolled from the keyboard.
  function markScrolling() {
    $$(".table-wrap, pre.code").forEach((wrap) => {
      const scrolls = wrap.scrollWidth > wrap.clientWidth + 1;
      wrap.classList.toggle("scrolls", scrolls);
      if (scrolls) {
        wrap.tabIndex = 0;
        wrap.setAttribute("role", "region");
        wrap.setAttribute("aria-label", `${wrap.matches("pre") ? "Code example" : "Table"}, scrolls sideways`);
      } else if (wrap.getAttribute("role") === "region") {
        wrap.removeAttribute("tabindex");
        wrap.removeAttribute("role");
        wrap.removeAttribute("aria-label");
      }
    });
  }

  // The try form: changing the response type puts in that type's example, unless the boxes were edited.
  function wireTryForm(root) {
    const form = $("#try-form", root) || (root.id === "try-form" ? root : null);
    if (!form || form.dataset.wired) return;
    form.dataset.wired = "1";
    const examples = JSON.parse(form.dataset.examples);
    const type = form.elements.response_type;
    const boxes = [form.elements.response_config, form.elements.default_response];
    const use = (kind) => boxes.forEach((box) => { box.value = examples[kind][box.name]; });
    let previous = type.value;
    type.addEventListener("change", () => {
      const untouched = boxes.every((box) => !box.value.trim() || box.value === examples[previous][box.name]);
      if (untouched) use(type.value);
      previous = type.value;
    });
    const button = $("[data-use-example]", form);
    button.hidden = false;
    button.addEventListener("click", () => use(type.value));
  }

  // After sending (the form's address ends in #try-it): focus the first refused field, else the result.
  // On `load`, as the browser's own move to #try-it comes after DOMContentLoaded and would take focus back.
  function focusOutcome() {
    if (location.hash !== "#try-it") return;
    const target = $("#try-form [aria-invalid=true]") || $("#try-result");
    if (target) target.focus();
  }

  // A request sent from the try form: its panel is fetched again whenever one of its events arrives on the
  // live feed, until it is answered, cancelled or timed out.
  let following = null;
  function followTried() {
    const panel = $("#try-result[data-follow]");
    if (!panel || panel.hasAttribute("data-closed") || !("EventSource" in window)) return;
    if (following) following.close();
    const source = new EventSource(`/v1/api/events?after=${encodeURIComponent(panel.dataset.after)}`);
    following = source;
    const id = panel.dataset.requestId;
    const url = panel.dataset.follow;
    let queue = Promise.resolve();
    const refresh = () => {
      queue = queue.then(() => window.htmx.ajax("GET", url, { target: "#try-result", swap: "outerHTML" })).then(() => {
        const fresh = $("#try-result");
        if (fresh && fresh.hasAttribute("data-closed")) source.close();
      }, () => {});
    };
    panel.dataset.events.split(" ").forEach((type) => source.addEventListener(type, (event) => {
      if (JSON.parse(event.data).request_id === id) refresh();
    }));
  }

  document.addEventListener("DOMContentLoaded", () => {
    wireMenu();
    labelTables(document);
    markScrolling();
    wireTryForm(document);
    followTried();
  });
  window.addEventListener("load", focusOutcome);
  window.addEventListener("resize", markScrolling);
})();
