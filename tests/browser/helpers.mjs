// Shared set-up of the browser tests: Debian's Chromium driven by
// playwright-core, axe-core for WCAG 2.1 A/AA, screenshots for people.
import assert from "node:assert/strict";
import { mkdirSync, readFileSync } from "node:fs";
import { createRequire } from "node:module";
import { chromium } from "playwright-core";

export const BASE = process.env.AMTSTERMIN_BASE_URL ?? "http://127.0.0.1:8080";
export const SCREENSHOTS = new URL("./screenshots/", import.meta.url).pathname;
mkdirSync(SCREENSHOTS, { recursive: true });

const require = createRequire(import.meta.url);
const axeSource = readFileSync(require.resolve("axe-core/axe.min.js"), "utf8");

export async function launch() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM ?? "/usr/bin/chromium",
    args: [
      "--no-sandbox",
      "--disable-gpu",
      "--disable-quic",
      "--no-first-run",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
    ],
  });
}

export const DESKTOP = { viewport: { width: 1280, height: 900 } };
export const PHONE = { viewport: { width: 390, height: 844 }, isMobile: true, hasTouch: true, deviceScaleFactor: 2 };

let citizens = 0;

/**
 * A fresh browser context: a citizen of their own. The stack trusts its
 * loopback proxy, so each context comes from its own address (as real
 * citizens do) and the per-address rate limits count each alone.
 * CSP is bypassed only so axe can be injected.
 */
export async function open(browser, options = {}) {
  citizens += 1;
  const address = `198.51.${100 + Math.floor(citizens / 250)}.${1 + (citizens % 250)}`;
  const context = await browser.newContext({
    locale: "de-DE",
    bypassCSP: true,
    extraHTTPHeaders: { "X-Forwarded-For": address },
    ...options,
  });
  return context.newPage();
}

/** Zero WCAG 2.1 A/AA violations on the current page, and a screenshot of it. */
export async function check(page, name) {
  await page.screenshot({ path: `${SCREENSHOTS}${name}.png`, fullPage: true });
  await page.addScriptTag({ content: axeSource });
  const result = await page.evaluate(() =>
    // eslint-disable-next-line no-undef
    axe.run(document, { runOnly: { type: "tag", values: ["wcag2a", "wcag2aa", "wcag21a", "wcag21aa"] } }),
  );
  const violations = result.violations.map(
    (violation) => `${violation.id}: ${violation.help} (${violation.nodes.map((node) => node.target.join(" ")).join(", ")})`,
  );
  assert.deepEqual(violations, [], `accessibility violations on ${name}`);
}

let counter = 0;
/** A unique email address per booking (the per-address limit is 2). */
export function email(prefix) {
  counter += 1;
  return `${prefix}.${Date.now()}.${counter}@example.de`;
}

/**
 * Ticks a concern on the start page, opening its category first where it
 * is not among those shown at the top.
 */
export async function tickConcern(page, name) {
  const box = page.getByLabel(name, { exact: true }).first();
  if (!(await box.isVisible())) {
    await page.locator("details", { has: box }).locator("summary").click();
  }
  await box.check();
}

/** From the ticked start page on to the calendar, answering the persons question where it comes. */
export async function continueToCalendar(page, { persons = "1", shot } = {}) {
  await page.getByRole("button", { name: "Weiter", exact: true }).click();
  await page.waitForURL(/\/(auswahl|kalender)/);
  if (page.url().includes("/auswahl")) {
    if (shot) await check(page, `${shot}-02b-personen`);
    for (const select of await page.locator("select").all()) await select.selectOption(persons);
    await page.getByRole("button", { name: "Weiter zur Terminauswahl" }).click();
  }
  await page.waitForURL("**/kalender**");
}

/** Goes from the office's start page to the booking form of the first free time. */
export async function chooseFirstTime(page, { concern = "Personalausweis beantragen", persons = "1", shot } = {}) {
  await page.goto(`${BASE}/`);
  if (shot) await check(page, `${shot}-01-aemter`);
  await page.getByRole("link", { name: "Bürgerbüro Bergkamen" }).click();
  await page.waitForURL("**/amt/bergkamen");
  if (shot) await check(page, `${shot}-02-anliegen`);
  await tickConcern(page, concern);
  await continueToCalendar(page, { persons, shot });
  if (shot) await check(page, `${shot}-03-kalender`);
  await page.locator("td.free a").first().click();
  await page.waitForURL("**tag=**");
  if (shot) await check(page, `${shot}-04-zeiten`);
  await page.locator("#zeiten .time-list a").first().click();
  await page.waitForURL("**/buchen**");
  if (shot) await check(page, `${shot}-05-formular`);
}

/** Fills and sends the booking form. */
export async function fillForm(page, { name = "Erika Mustermann", address = email("erika"), consent = true } = {}) {
  await page.getByLabel("Vor- und Nachname").fill(name);
  await page.getByLabel("E-Mail-Adresse").fill(address);
  if (consent) await page.getByLabel(/Datenschutzhinweise/).check();
  await page.getByRole("button", { name: "Termin verbindlich buchen" }).click();
}

/**
 * The first link matching `pattern` in a mail that mentions `marker` (the
 * stack writes mails as files into AMTSTERMIN_MAIL_DIR), waiting up to ten
 * seconds for the mail.
 */
export async function mailLink(marker, pattern) {
  const { readdir, readFile } = await import("node:fs/promises");
  for (let attempt = 0; attempt < 50; attempt += 1) {
    for (const file of await readdir(process.env.AMTSTERMIN_MAIL_DIR).catch(() => [])) {
      const raw = await readFile(`${process.env.AMTSTERMIN_MAIL_DIR}/${file}`, "utf8");
      // The text part as a mail program reads it: quoted-printable or base64.
      const quoted = raw.replace(/=\r?\n/g, "").replace(/=([0-9A-F]{2})/g, (_, hex) => String.fromCharCode(parseInt(hex, 16)));
      const base64 = (raw.match(/^[A-Za-z0-9+/=]{40,}$/gm) ?? []).map((line) => Buffer.from(line, "base64").toString("utf8")).join("");
      const mail = quoted + base64;
      const link = mail.includes(marker) ? mail.match(pattern)?.[0] : undefined;
      if (link) return link;
    }
    await new Promise((resolve) => setTimeout(resolve, 200));
  }
  return undefined;
}
