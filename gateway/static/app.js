// Progressive enhancement only: every step works without this file.
// The start page: filters the concerns while typing (the search form does
// the same on the server when JavaScript is off), keeps the two boxes of a
// concern listed twice (at the top and in its category) alike, and counts
// what is ticked next to the button.
document.addEventListener("DOMContentLoaded", () => {
  const input = document.querySelector("input[data-filter]");
  if (!input) return;
  const form = document.querySelector(input.dataset.filter);
  const featured = form.querySelector("[data-featured]");
  const heading = form.querySelector(".all-heading");
  const noMatch = form.querySelector("[data-no-match]");
  const echo = form.querySelector("[data-search-echo]");
  const count = form.querySelector("[data-chosen-count]");
  const boxes = [...form.querySelectorAll("input[name=anliegen]")];
  const apply = () => {
    const words = input.value.trim().toLowerCase().split(/\s+/).filter(Boolean);
    const searching = words.length > 0;
    let matches = 0;
    for (const section of form.querySelectorAll(".category")) {
      let visible = 0;
      for (const concern of section.querySelectorAll(".concern")) {
        const text = concern.dataset.name || "";
        const match = words.every((word) => text.includes(word));
        concern.hidden = !match;
        if (match) visible += 1;
      }
      section.hidden = visible === 0;
      matches += visible;
      if (searching) section.open = visible > 0;
      else section.open = [...section.querySelectorAll("input:checked")].length > 0;
    }
    if (featured) featured.hidden = searching;
    if (heading) heading.hidden = matches === 0;
    noMatch.hidden = matches > 0;
    echo.textContent = input.value.trim();
  };
  const counted = () => {
    const chosen = new Set(boxes.filter((box) => box.checked).map((box) => box.value));
    count.textContent =
      chosen.size === 0 ? "" : chosen.size === 1 ? "1 Anliegen gewählt" : `${chosen.size} Anliegen gewählt`;
  };
  for (const box of boxes) {
    box.addEventListener("change", () => {
      for (const twin of boxes) if (twin.value === box.value) twin.checked = box.checked;
      counted();
    });
  }
  input.addEventListener("input", apply);
  counted();
});

// The proof of work some booking forms carry (see gateway/src/challenge.rs):
// solved in a worker while the citizen fills in the form; the button waits
// for it. Without JavaScript the server asks for none of a first-time client.
document.addEventListener("DOMContentLoaded", () => {
  const field = document.querySelector("input[data-altcha]");
  if (!field || !field.dataset.altcha || !window.Worker || !window.crypto?.subtle) return;
  const challenge = JSON.parse(field.dataset.altcha);
  const form = field.form;
  const button = form.querySelector("button[type=submit]");
  const status = form.querySelector("[data-altcha-status]");
  const label = button.textContent;
  button.disabled = true;
  button.textContent = "Einen Moment …";
  status.hidden = false;
  status.textContent = "Ihr Browser bestätigt gerade, dass hier ein Mensch bucht.";
  const worker = new Worker("/static/altcha-worker.js");
  worker.onmessage = (event) => {
    const { number, took } = event.data;
    worker.terminate();
    button.disabled = false;
    button.textContent = label;
    if (number === null) {
      status.textContent = "Die Bestätigung ist nicht gelungen. Bitte laden Sie die Seite neu.";
      return;
    }
    const payload = { ...challenge, number, took };
    delete payload.maxnumber;
    field.value = btoa(JSON.stringify(payload));
    status.textContent = "Bestätigt. Sie können jetzt buchen.";
  };
  worker.postMessage(challenge);
});
