// Solves an ALTCHA (v1) proof of work off the page's thread: the number n,
// at most maxnumber, whose SHA-256 of salt + n is the challenge.
self.onmessage = async (event) => {
  const { challenge, salt, maxnumber } = event.data;
  const encoder = new TextEncoder();
  const started = Date.now();
  for (let number = 0; number <= maxnumber; number += 1) {
    const digest = await crypto.subtle.digest("SHA-256", encoder.encode(salt + number));
    let hex = "";
    for (const byte of new Uint8Array(digest)) hex += byte.toString(16).padStart(2, "0");
    if (hex === challenge) {
      self.postMessage({ number, took: Date.now() - started });
      return;
    }
  }
  self.postMessage({ number: null });
};
