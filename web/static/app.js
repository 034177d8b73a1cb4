// Bulwark's one script, for progressive enhancement: every page works without
// it except passkeys, which need the browser's WebAuthn API. It runs under the
// pages' Content-Security-Policy (script-src 'self'): no inline handlers, no
// eval, no HTML strings; it only reads the DOM and calls the JSON API of this
// origin.
"use strict";

// A mailed link carries its token in the fragment (#token=...), which the
// browser never sends to the server or to a Referer. The form that takes
// the token is filled from it, the fragment is dropped from the address
// bar and history, and the form is sent.
function tokenFromFragment() {
  const form = document.querySelector("form[data-token-from-fragment]");
  if (!form) return;
  const params = new URLSearchParams(location.hash.slice(1));
  const token = params.get(form.dataset.tokenFromFragment);
  if (!token) return;
  history.replaceState(null, "", location.pathname + location.search);
  const input = form.querySelector("input[name=" + form.dataset.tokenFromFragment + "]");
  input.value = token;
  if (!form.querySelector("input[type=password]")) form.requestSubmit();
}

// base64url <-> ArrayBuffer, for WebAuthn's binary fields.
function fromB64(s) {
  const b = atob(s.replace(/-/g, "+").replace(/_/g, "/"));
  return Uint8Array.from(b, (c) => c.charCodeAt(0)).buffer;
}
function toB64(buf) {
  let s = "";
  new Uint8Array(buf).forEach((c) => { s += String.fromCharCode(c); });
  return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
}

async function api(path, body) {
  const res = await fetch(path, {
    method: "POST", credentials: "same-origin",
    headers: { "Content-Type": "application/json" },
    body: JSON.stringify(body || {}),
  });
  const text = await res.text(); // 201 and 204 may carry no body
  const data = text ? JSON.parse(text) : {};
  if (!res.ok) throw new Error(data.detail || res.statusText);
  return data;
}

function credentialJSON(cred) {
  const r = cred.response;
  const out = { id: cred.id, rawId: toB64(cred.rawId), type: cred.type, response: { clientDataJSON: toB64(r.clientDataJSON) } };
  if (r.attestationObject) out.response.attestationObject = toB64(r.attestationObject);
  if (r.authenticatorData) out.response.authenticatorData = toB64(r.authenticatorData);
  if (r.signature) out.response.signature = toB64(r.signature);
  if (r.userHandle) out.response.userHandle = toB64(r.userHandle);
  return out;
}

function showError(el, err) {
  const p = document.createElement("p");
  p.className = "error";
  p.setAttribute("role", "alert");
  p.textContent = err.message;
  el.after(p);
}

// Passkey sign-in: shown only where the browser has WebAuthn.
function passkeySignin() {
  const btn = document.getElementById("passkey-signin");
  if (!btn || !window.PublicKeyCredential) return;
  btn.hidden = false;
  btn.addEventListener("click", async () => {
    try {
      const begin = await api("/api/v1/auth/passkey/begin");
      const opts = begin.options.publicKey;
      opts.challenge = fromB64(opts.challenge);
      (opts.allowCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
      const cred = await navigator.credentials.get({ publicKey: opts });
      await api("/api/v1/auth/passkey/finish", { ceremony_id: begin.ceremony_id, credential: credentialJSON(cred) });
      location.assign("/account");
    } catch (err) { showError(btn, err); }
  });
}

// Passkey registration, on the account's security page.
function passkeyRegister() {
  const btn = document.getElementById("passkey-add");
  if (!btn || !window.PublicKeyCredential) return;
  btn.hidden = false;
  btn.addEventListener("click", async () => {
    try {
      const begin = await api("/api/v1/me/passkeys/begin");
      const opts = begin.options.publicKey;
      opts.challenge = fromB64(opts.challenge);
      opts.user.id = fromB64(opts.user.id);
      (opts.excludeCredentials || []).forEach((c) => { c.id = fromB64(c.id); });
      const cred = await navigator.credentials.create({ publicKey: opts });
      await api("/api/v1/me/passkeys/finish", { ceremony_id: begin.ceremony_id, credential: credentialJSON(cred) });
      location.assign("/account/security?done=updated");
    } catch (err) { showError(btn, err); }
  });
}

// A form whose button says data-confirm asks before it is sent.
function confirmations() {
  document.querySelectorAll("form[data-confirm]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });
}

document.addEventListener("DOMContentLoaded", () => {
  tokenFromFragment();
  passkeySignin();
  passkeyRegister();
  confirmations();
});
