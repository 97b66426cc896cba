// The administration in a real browser: an admin changes an office's
// configuration, checks it first, saves it, reads the history with what
// changed and reverts it; the internal audit reads the history only.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { BASE, DESKTOP, PHONE, check, launch, open } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function signIn(page, login, password = "demo") {
  await page.goto(`${BASE}/schalter/anmelden`);
  await page.getByLabel("Benutzername").fill(login);
  await page.getByLabel("Passwort").fill(password);
  await page.getByRole("button", { name: "Anmelden" }).click();
}

test("an admin changes an office's configuration, reads the history and reverts", async () => {
  const page = await open(browser, DESKTOP);
  await signIn(page, "demo");
  await page.getByRole("link", { name: /^Verwaltung/ }).click();
  await page.getByRole("heading", { name: "Verwaltung" }).waitFor();
  await check(page, "verwaltung-01-uebersicht");

  await page.getByRole("link", { name: /^Bearbeiten\W+Bürgerbüro Bergkamen/ }).click();
  await page.getByRole("heading", { name: "Bürgerbüro Bergkamen: Konfiguration" }).waitFor();
  const editor = page.getByLabel(/Konfiguration des Amtes/);
  const original = await editor.inputValue();
  assert.ok(original.includes("min_lead_minutes = 60"));
  await editor.fill(original.replace("min_lead_minutes = 60", "min_lead_minutes = 90"));
  await page.getByRole("button", { name: "Prüfen" }).click();
  await page.getByText("Die Konfiguration ist gültig.").waitFor();
  await check(page, "verwaltung-02-geprueft");

  await page.getByRole("button", { name: "Speichern" }).click();
  await page.getByRole("heading", { name: "Konfiguration gespeichert" }).waitFor();
  await check(page, "verwaltung-03-gespeichert");

  await page.getByRole("link", { name: "Änderungen" }).click();
  await page.getByRole("heading", { name: "Fassung 2: geändert" }).waitFor();
  await page.getByText("Was sich geändert hat").first().click();
  assert.match(await page.locator("pre.diff").first().innerText(), /\+ min_lead_minutes = 90/);
  await check(page, "verwaltung-04-aenderungen");

  await page.getByRole("button", { name: /^Zurücknehmen\W+Fassung 2$/ }).click();
  await page.getByRole("heading", { name: "Änderung 2 zurückgenommen" }).waitFor();
  await page.getByRole("link", { name: "Weiter bearbeiten" }).click();
  assert.equal(await page.getByLabel(/Konfiguration des Amtes/).inputValue(), original);
  await page.context().close();
});

test("a broken configuration is refused with the reason, on a phone", async () => {
  const page = await open(browser, PHONE);
  await signIn(page, "demo");
  await page.goto(`${BASE}/verwaltung/bergkamen`);
  const editor = page.getByLabel(/Konfiguration des Amtes/);
  const original = await editor.inputValue();
  await editor.fill(original.replace("slot_minutes = 10", "slot_minutes = 7"));
  await page.getByRole("button", { name: "Speichern" }).click();
  await page.getByRole("heading", { name: "Nicht gespeichert" }).waitFor();
  assert.match(await page.getByRole("alert").innerText(), /slot_minutes/);
  await check(page, "verwaltung-05-fehler-telefon");
  await page.context().close();
});

test("the internal audit reads the history and changes nothing", async () => {
  const page = await open(browser, PHONE);
  await signIn(page, "revision");
  await page.getByRole("heading", { name: "Verwaltung" }).waitFor();
  assert.equal(await page.getByRole("link", { name: /^Bearbeiten/ }).count(), 0);
  await page.getByRole("link", { name: /^Änderungen\W+Bürgerbüro Bergkamen/ }).click();
  await page.getByRole("heading", { name: /Fassung \d+: / }).first().waitFor();
  assert.equal(await page.getByRole("button", { name: /Zurücknehmen/ }).count(), 0);
  await check(page, "verwaltung-06-revision-telefon");
  await page.context().close();
});

test("an admin subscribes a webhook and makes a calendar feed, on a phone", async () => {
  const page = await open(browser, PHONE);
  await signIn(page, "demo");
  await page.goto(`${BASE}/verwaltung/bergkamen/webhooks`);
  await page.getByLabel("Adresse des empfangenden Systems").fill("https://fachverfahren.example/hook");
  await page.getByLabel("Termin gebucht").check();
  await page.getByRole("button", { name: "Webhook anlegen" }).click();
  await page.getByText("nur jetzt").waitFor();
  assert.match(await page.locator("#angelegt").innerText(), /whsec_/);
  await check(page, "verwaltung-07-webhook-telefon");
  await page.getByRole("link", { name: /^Zustellungen/ }).first().click();
  await page.getByRole("heading", { name: "Bürgerbüro Bergkamen: Zustellungen" }).waitFor();
  await check(page, "verwaltung-07b-zustellungen-telefon");

  await page.goto(`${BASE}/verwaltung/bergkamen/kalender`);
  await page.getByLabel("Termine von").selectOption({ label: "Arbeitsplatz 1" });
  await page.getByRole("button", { name: "Kalender-Abo anlegen" }).click();
  await page.getByText("nur jetzt").waitFor();
  assert.match(await page.locator("#angelegt").innerText(), /\/kalender\/bergkamen\/.+\.ics/);
  await check(page, "verwaltung-08-kalender-telefon");
  await page.context().close();
});

test("an admin creates a staff account, whose user changes the password", async () => {
  const page = await open(browser, DESKTOP);
  await signIn(page, "demo");
  await page.goto(`${BASE}/verwaltung/konten`);
  await page.getByLabel("Benutzername").fill("browser.konto");
  await page.getByLabel("Name (wird am Schalter gezeigt)").fill("Browser Konto");
  await page.getByLabel("Bürgerbüro Bergkamen").check();
  await page.getByLabel("Erstes Passwort (mindestens 10 Zeichen)").fill("erstes passwort");
  await page.getByLabel("Passwort wiederholen").fill("erstes passwort");
  await page.getByRole("button", { name: "Konto anlegen" }).click();
  await page.getByText("Das Konto browser.konto ist angelegt.").waitFor();
  await check(page, "verwaltung-09-konten");
  await page.getByRole("link", { name: /^Bearbeiten\W+browser\.konto$/ }).click();
  await page.getByRole("heading", { name: "Konto browser.konto" }).waitFor();
  await check(page, "verwaltung-10-konto");
  await page.context().close();

  const own = await open(browser, PHONE);
  await signIn(own, "browser.konto", "erstes passwort");
  await own.getByRole("heading", { name: /Guten Tag/ }).waitFor();
  await own.getByRole("link", { name: "Eigenes Passwort ändern" }).click();
  await own.getByLabel("Bisheriges Passwort").fill("erstes passwort");
  await own.getByLabel("Neues Passwort (mindestens 10 Zeichen)").fill("zweites passwort");
  await own.getByLabel("Neues Passwort wiederholen").fill("zweites passwort");
  await check(own, "schalter-05-passwort-telefon");
  await own.getByRole("button", { name: "Passwort ändern" }).click();
  await own.getByText("Ihr neues Passwort gilt.").waitFor();
  await own.context().close();
});

test("the internal audit reads the audit log, filtered, on a phone and a desktop", async () => {
  for (const [size, name] of [[PHONE, "verwaltung-11-protokoll-telefon"], [DESKTOP, "verwaltung-12-protokoll"]]) {
    const page = await open(browser, size);
    await signIn(page, "revision");
    await page.getByRole("heading", { name: "Verwaltung" }).waitFor();
    await page.getByRole("link", { name: /^Protokoll\W+Bürgerbüro Bergkamen/ }).click();
    await page.getByRole("heading", { name: "Bürgerbüro Bergkamen: Protokoll" }).waitFor();
    await page.getByLabel("Art").selectOption({ label: "An- und Abmeldungen" });
    await page.getByRole("button", { name: "Anzeigen" }).click();
    await page.getByRole("cell", { name: "Angemeldet" }).first().waitFor();
    await check(page, name);
    await page.context().close();
  }
});

test("the form for another department", async () => {
  const page = await open(browser, PHONE);
  await signIn(page, "demo");
  await page.goto(`${BASE}/verwaltung`);
  await page.getByRole("link", { name: "Neues Amt anlegen" }).click();
  await page.getByRole("heading", { name: "Neues Amt anlegen" }).waitFor();
  assert.match(await page.getByLabel("Konfiguration des Amtes").inputValue(), /id = "bauamt"/);
  await check(page, "verwaltung-13-neues-amt-telefon");
  await page.context().close();
});
