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
