// The /docs filter box: hides operations and schemas that do not match what is typed.
// The page is complete without this script; the box stays hidden when it does not run.
"use strict";

document.addEventListener("DOMContentLoaded", () => {
  const box = document.getElementById("filter-box");
  const input = document.getElementById("filter");
  const status = document.getElementById("filter-status");
  if (!box || !input || !status) {
    return;
  }
  const entries = Array.from(document.querySelectorAll("[data-filter]"));
  const sections = Array.from(document.querySelectorAll("section.group"));

  const apply = () => {
    const words = input.value.toLowerCase().split(/\s+/).filter(Boolean);
    let shown = 0;
    for (const entry of entries) {
      const text = entry.dataset.filter || "";
      const match = words.every((word) => text.includes(word));
      entry.hidden = !match;
      if (match) {
        shown += 1;
      }
    }
    for (const section of sections) {
      section.hidden = words.length > 0 && !section.querySelector("[data-filter]:not([hidden])");
    }
    status.textContent = words.length ? `${shown} of ${entries.length} shown` : "";
  };

  input.addEventListener("input", apply);
  input.addEventListener("keydown", (event) => {
    if (event.key === "Escape") {
      input.value = "";
      apply();
    }
  });
  box.hidden = false;
});
