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
    // The words come from the page, in its language.
    count.textContent =
      chosen.size === 0 ? "" : chosen.size === 1 ? count.dataset.one : count.dataset.many.replace("{count}", chosen.size);
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
  button.textContent = field.dataset.wait;
  status.hidden = false;
  status.textContent = field.dataset.working;
  const worker = new Worker("/static/altcha-worker.js");
  worker.onmessage = (event) => {
    const { number, took } = event.data;
    worker.terminate();
    button.disabled = false;
    button.textContent = label;
    if (number === null) {
      status.textContent = field.dataset.failed;
      return;
    }
    const payload = { ...challenge, number, took };
    delete payload.maxnumber;
    field.value = btoa(JSON.stringify(payload));
    status.textContent = field.dataset.done;
  };
  worker.postMessage(challenge);
});

// The calendar as a date grid (WAI-ARIA pattern, for the days with free
// times): one Tab stop, arrow keys move a day or a week, Home/End to the
// week's first or last free day, Page Up/Down a month. Without this file
// every day is a plain link in the Tab order.
document.addEventListener("DOMContentLoaded", () => {
  const links = [...document.querySelectorAll(".calendar td.free a[data-date]")];
  if (links.length === 0) return;
  const hint = document.querySelector("[data-arrow-hint]");
  if (hint) hint.hidden = false;
  const day = (link) => new Date(`${link.dataset.date}T12:00:00Z`);
  const dayMs = 24 * 60 * 60 * 1000;
  let current = links.find((link) => link.getAttribute("aria-current")) || links[0];
  const focus = (link) => {
    if (!link) return;
    current.tabIndex = -1;
    link.tabIndex = 0;
    current = link;
    link.focus();
  };
  for (const link of links) link.tabIndex = link === current ? 0 : -1;
  // The first free day at or after `target` (forwards), or at or before it.
  const nearest = (target, forwards) => {
    const candidates = forwards ? links : [...links].reverse();
    return candidates.find((link) => (forwards ? day(link) >= target : day(link) <= target));
  };
  const weekStart = (date) => new Date(date.getTime() - ((date.getUTCDay() + 6) % 7) * dayMs);
  for (const link of links) {
    link.addEventListener("keydown", (event) => {
      const here = day(link);
      const index = links.indexOf(link);
      let target;
      switch (event.key) {
        case "ArrowRight": target = links[index + 1]; break;
        case "ArrowLeft": target = links[index - 1]; break;
        case "ArrowDown": target = nearest(new Date(here.getTime() + 7 * dayMs), true); break;
        case "ArrowUp": target = nearest(new Date(here.getTime() - 7 * dayMs), false); break;
        case "Home": target = nearest(weekStart(here), true); break;
        case "End": target = nearest(new Date(weekStart(here).getTime() + 6 * dayMs), false); break;
        case "PageDown": {
          const next = new Date(here);
          next.setUTCMonth(next.getUTCMonth() + 1);
          target = nearest(next, true);
          break;
        }
        case "PageUp": {
          const previous = new Date(here);
          previous.setUTCMonth(previous.getUTCMonth() - 1);
          target = nearest(previous, false);
          break;
        }
        default: return;
      }
      event.preventDefault();
      focus(target);
    });
  }
});

// The desk's ticket: a print button (hidden without JavaScript, where the
// browser's own print command does the same).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
});
