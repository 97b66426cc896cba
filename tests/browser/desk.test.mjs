// The foyer desk in a real browser: sign in, give a walk-in the next free
// slot with a printable ticket, record the arrival and completion, and a
// counter absence.
import assert from "node:assert/strict";
import { after, before, test } from "node:test";

import { BASE, DESKTOP, check, launch, open } from "./helpers.mjs";

let browser;
before(async () => {
  browser = await launch();
});
after(async () => {
  await browser?.close();
});

async function signIn(page) {
  await page.goto(`${BASE}/schalter`);
  await page.waitForURL("**/schalter/anmelden");
  await check(page, "schalter-01-anmelden");
  await page.getByLabel("Benutzername").fill("demo");
  await page.getByLabel("Passwort").fill("demo");
  await page.getByRole("button", { name: "Anmelden" }).click();
  await page.getByRole("heading", { name: /Guten Tag/ }).waitFor();
}

test("a wrong password is refused", async () => {
  const page = await open(browser, DESKTOP);
  await page.goto(`${BASE}/schalter/anmelden`);
  await page.getByLabel("Benutzername").fill("demo");
  await page.getByLabel("Passwort").fill("falsch");
  await page.getByRole("button", { name: "Anmelden" }).click();
  await page.getByRole("heading", { name: "Anmeldung fehlgeschlagen" }).waitFor();
  await page.goto(`${BASE}/schalter/bergkamen`);
  await page.waitForURL("**/schalter/anmelden");
  await page.context().close();
});

test("staff give a walk-in the next free slot, print the ticket and record arrival and completion", async () => {
  const page = await open(browser, DESKTOP);
  await signIn(page);
  await page.getByRole("link", { name: "Bürgerbüro Bergkamen" }).click();
  await page.getByRole("heading", { name: "Bürgerbüro Bergkamen" }).waitFor();
  await check(page, "schalter-02-tag");

  await page.getByLabel("Anliegen", { exact: true }).first().selectOption({ label: "Allgemeine Beratung und Auskunft" });
  await page.locator("#walkin-name").fill("Laufkunde Test");
  await page.getByRole("button", { name: "Nächsten freien Termin vergeben" }).click();
  await page.getByRole("heading", { name: "Ihr Termin" }).waitFor();
  const code = (await page.locator(".ticket .code").innerText()).trim();
  assert.match(code, /^[A-Z0-9]{4}-[A-Z0-9]{4}$/);
  await check(page, "schalter-03-wartezettel");

  await page.getByRole("link", { name: "Zurück zum Schalter" }).click();
  // The desk shows the walk-in's day, with the booking on its counter.
  const row = () => page.getByRole("row").filter({ hasText: code });
  assert.match(await row().innerText(), /Laufkunde Test/);
  await row().getByRole("button", { name: /Angekommen/ }).click();
  await page.getByText("Der Status wurde gespeichert.").waitFor();
  assert.match(await row().innerText(), /angemeldet/);
  await row().getByRole("button", { name: /Erledigt/ }).click();
  await page.getByText("Der Status wurde gespeichert.").waitFor();
  assert.match(await row().innerText(), /erledigt/);
  await page.context().close();
});

test("staff record a counter absence and see the bookings it affects", async () => {
  const page = await open(browser, DESKTOP);
  await signIn(page);
  await page.goto(`${BASE}/schalter/bergkamen`);
  await page.getByLabel("Arbeitsplatz").selectOption({ label: "Arbeitsplatz 2" });
  await page.getByLabel("Grund (intern)").fill("Fortbildung");
  await page.getByRole("button", { name: "Abwesenheit eintragen" }).click();
  await page.getByRole("heading", { name: "Abwesenheit eingetragen" }).waitFor();
  await check(page, "schalter-04-abwesenheit");
  await page.context().close();
});
