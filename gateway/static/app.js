// Progressive enhancement only: every step works without this file.
// Filters the concern list while typing (the search form does the same
// on the server when JavaScript is off).
document.addEventListener("DOMContentLoaded", () => {
  const input = document.querySelector("input[data-filter]");
  if (!input) return;
  const form = document.querySelector(input.dataset.filter);
  const apply = () => {
    const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    for (const section of form.querySelectorAll(".category")) {
      let visible = 0;
      for (const concern of section.querySelectorAll(".concern")) {
        const text = concern.dataset.name || "";
        const match = words.every((word) => text.includes(word));
        concern.hidden = !match;
        if (match) visible += 1;
      }
      section.hidden = visible === 0;
    }
  };
  input.addEventListener("input", apply);
});
