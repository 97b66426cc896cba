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
function calendarGrid() {
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
}
document.addEventListener("DOMContentLoaded", calendarGrid);

// Live free times: the calendar hears of every change of its slots (a time
// taken by someone else, one given back) and swaps in the page as it is
// now, keeping the focus where it was. Without this file the page stays
// as rendered.
document.addEventListener("DOMContentLoaded", () => {
  const live = document.querySelector("[data-live-slots]");
  if (!live || !window.EventSource || !window.DOMParser) return;
  let version = live.dataset.version;
  // The latest fingerprint heard, and whether one came during a fetch.
  let latest = version;
  let fetching = false;
  let missed = false;
  const refresh = async () => {
    fetching = true;
    try {
      const response = await fetch(location.href, { headers: { Accept: "text/html" } });
      if (!response.ok) return;
      const fresh = new DOMParser().parseFromString(await response.text(), "text/html");
      const focused = document.activeElement;
      const key = focused?.getAttribute("data-date") ? `[data-date="${focused.dataset.date}"]`
        : focused?.getAttribute("href") ? `[href="${CSS.escape(focused.getAttribute("href"))}"]` : null;
      for (const region of document.querySelectorAll("[data-live-region]")) {
        const replacement = fresh.querySelector(`[data-live-region="${region.dataset.liveRegion}"]`);
        if (replacement) region.replaceChildren(...replacement.childNodes);
      }
      version = fresh.querySelector("[data-live-slots]")?.dataset.version ?? version;
      calendarGrid();
      if (key && !document.body.contains(focused)) document.querySelector(key)?.focus();
      live.textContent = live.dataset.liveNote;
    } finally {
      fetching = false;
    }
    // A change during the fetch may be newer than what it brought.
    if (missed && latest !== version) {
      missed = false;
      refresh();
    }
  };
  const events = new EventSource(live.dataset.liveSlots);
  events.addEventListener("open", () => {
    live.dataset.listening = "";
  });
  events.addEventListener("slots", (event) => {
    latest = event.data;
    if (fetching) {
      missed = true;
      return;
    }
    if (latest !== version) refresh();
  });
});

// The desk's ticket: a print button (hidden without JavaScript, where the
// browser's own print command does the same).
document.addEventListener("DOMContentLoaded", () => {
  for (const button of document.querySelectorAll("[data-print]")) {
    button.hidden = false;
    button.addEventListener("click", () => window.print());
  }
});

// The call display (/aufruf/…): follows the board through Server-Sent
// Events; the browser's EventSource reconnects by itself after a restart or
// a network loss. A chime, when switched on, marks a newly called number.
document.addEventListener("DOMContentLoaded", () => {
  const board = document.querySelector("[data-board]");
  if (!board || !window.EventSource) return;
  const called = board.querySelector("[data-called]");
  const calledEmpty = board.querySelector("[data-called-empty]");
  const waiting = board.querySelector("[data-waiting]");
  const wait = board.querySelector("[data-wait]");
  const chime = board.querySelector("[data-chime]");
  let chimeOn = false;
  let audio;
  chime.hidden = false;
  chime.addEventListener("click", () => {
    chimeOn = !chimeOn;
    chime.textContent = chimeOn ? chime.dataset.off : chime.dataset.on;
    audio = audio || new AudioContext();
  });
  const ring = () => {
    if (!chimeOn || !audio) return;
    const tone = audio.createOscillator();
    const gain = audio.createGain();
    tone.frequency.value = 660;
    gain.gain.setValueAtTime(0.2, audio.currentTime);
    gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + 1.2);
    tone.connect(gain).connect(audio.destination);
    tone.start();
    tone.stop(audio.currentTime + 1.2);
  };
  let latest = board.dataset.latestCall ?? "";
  const events = new EventSource(board.dataset.board);
  events.addEventListener("board", (event) => {
    const data = JSON.parse(event.data);
    called.replaceChildren(
      ...data.called.map(([number, counter]) => {
        const item = document.createElement("li");
        const big = document.createElement("span");
        big.className = "board-number";
        big.textContent = number;
        const where = document.createElement("span");
        where.className = "board-counter";
        where.textContent = `${called.dataset.counterLabel} ${counter}`;
        item.append(big, " ", where);
        return item;
      }),
    );
    calledEmpty.hidden = data.called.length > 0;
    waiting.replaceChildren(
      ...data.waiting.map((number) => {
        const item = document.createElement("li");
        item.textContent = number;
        return item;
      }),
    );
    wait.textContent = wait.dataset.template.replace("{minutes}", data.estimated_wait_minutes);
    // A new call, or a recall of the same number, rings.
    if (data.latest_call && data.latest_call !== latest) ring();
    latest = data.latest_call;
  });
});
