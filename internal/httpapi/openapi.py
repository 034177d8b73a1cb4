"""Writes Bulwark's OpenAPI 3.1 document (openapi.json beside this file).

The document is the machine-readable HTTP contract; edit it here and run
    python3 internal/httpapi/openapi.py > internal/httpapi/openapi.json
.ci/run fails when openapi.json differs from this script's output, and
TestOpenAPIDocumentMatchesRoutes fails when a route is missing or extra.
"""
import json
ref=lambda n: {"$ref": "#/components/schemas/"+n}
resp=lambda n: {"$ref": "#/components/responses/"+n}
def js(schema, desc="OK"):
    return {"description": desc, "content": {"application/json": {"schema": schema}}}
def body(name):
    return {"required": True, "content": {"application/json": {"schema": ref(name)}}}
AUTH=[{"bearerAuth": []}, {"sessionCookie": []}]
BODY_ERRS={"400": resp("BadRequest"), "413": resp("PayloadTooLarge"), "415": resp("UnsupportedMediaType"), "422": resp("Unprocessable")}
ROLES={"keys:manage":"role admin","blocks:manage":"role admin","orders:read":"roles admin, support and fulfillment","orders:refund":"roles admin and finance","orders:fulfil":"roles admin and fulfillment","public":"anyone, signed in or not","authenticated":"any signed-in account, acting on its own data","catalog:write":"roles admin and catalog","roles:manage":"role admin","users:erase":"role admin","pricing:manage":"roles admin and catalog","webhooks:manage":"role admin","mail:manage":"role admin","findings:read":"role admin","findings:manage":"role admin","fraud:review":"roles admin and finance","fraud:rules":"role admin","audit:read":"role admin","assurance:read":"role admin"}
def op(opid, summary, perm, responses, request=None, params=None, desc=None):
    o={"operationId": opid, "summary": summary, "x-bulwark-permission": perm,
       "description": (desc+" " if desc else "")+"Permission `"+perm+"`: "+ROLES[perm]+"."+(" Staff need TOTP turned on (403 `mfa_enrollment_required`)." if perm not in ("public","authenticated") else ""),
       "security": [] if perm=="public" else AUTH, "responses": {}}
    if params: o["parameters"]=params
    if request:
        o["requestBody"]=body(request)
        o["responses"].update(BODY_ERRS)
    if perm!="public": o["responses"]["401"]=resp("Unauthorized")
    if perm not in ("public","authenticated"): o["responses"]["403"]=resp("Forbidden")
    elif request: o["responses"]["403"]=resp("Forbidden")
    if opid not in ("healthz","readyz"): o["responses"]["429"]=resp("TooManyRequests")  # probes are never rate limited
    o["responses"].update(responses)
    o["responses"]["500"]=resp("Internal")
    if opid not in ("healthz","readyz"): o["responses"]["503"]=resp("Overloaded")  # probes are exempt from the in-flight cap; a dependency outage is 503 too
    o["responses"]=dict(sorted(o["responses"].items()))
    return o
idemp={"name":"Idempotency-Key","in":"header","required":True,"schema":{"type":"string","minLength":1,"maxLength":255,"pattern":"^[\\x21-\\x7e]+$"},
  "description":"Required (400 `idempotency_key_required`); kept at least 24 hours per customer."}
pagep=[{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":20}},{"name":"cursor","in":"query","schema":{"type":"string"}}]
idp={"name":"id","in":"path","required":True,"schema":{"type":"string","maxLength":64}}
LISTP=[{"name":"q","in":"query","schema":{"type":"string","maxLength":100},"description":"Full-text search over the name, the description's text (not its markup) and every variant's SKU: each word of `q` (runs of letters and digits; case, accents and compatibility forms folded) must start a word of the product. Nothing in `q` is query syntax; no letter or digit finds nothing. At most 100 characters, 10 distinct words, 64 characters a word: beyond, 422 `validation_failed`. Ordered by id, not relevance; SQLite and PostgreSQL find the same products."},
  {"name":"category","in":"query","schema":{"type":"string","pattern":"^cat_"},"description":"Products in this category or any below it."},
  {"name":"min_price","in":"query","schema":{"type":"integer","minimum":0},"description":"Minor units, in `currency`: a variant priced at least this."},
  {"name":"max_price","in":"query","schema":{"type":"integer","minimum":0},"description":"Minor units, in `currency`: a variant priced at most this."},
  {"name":"in_stock","in":"query","schema":{"type":"boolean"},"description":"`true`: a variant in stock."},
  {"name":"currency","in":"query","schema":{"type":"string","pattern":"^[A-Z]{3}$"},"description":"Products priced in this currency; the currency of a price range (default: the shop's first)."},
  {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":20}},
  {"name":"cursor","in":"query","schema":{"type":"string"},"description":"`next_cursor` of the previous page."}]
paths={
 "/":{"get":op("root","Where the API is described: the OpenAPI document, the health probe, the docs","public",{"200":js(ref("Root"))})},
 "/healthz":{"get":op("healthz","Liveness: the process answers","public",{"200":js(ref("Health"))})},
 "/readyz":{"get":op("readyz","Readiness: whether this instance can take orders. It probes the database, the disk under the data directory (1 MiB free and a write), the card vault (its database, or the vault process's health route over mutual TLS) and Redis when configured, and lists each as `up` or `down`. Redis down leaves the instance ready (it serves safely without Redis: docs/OPERATIONS.md, \"Without Redis\"); any other dependency down answers 503 with Retry-After.","public",{"200":js(ref("Readiness")),"503":dict(js(ref("Readiness"),"Not ready: a dependency the instance cannot serve without is down (`code` is `not_ready`)."),headers={"Retry-After":{"description":"Whole seconds before probing again.","schema":{"type":"integer","minimum":1}}})})},
 "/api/v1/openapi.json":{"get":op("openapi","This document","public",{"200":js({"type":"object"})})},
 "/robots.txt":{"get":op("robotsTxt","robots.txt: crawlers keep out of the API","public",
    {"200":{"description":"Disallows /api/","content":{"text/plain":{"schema":{"type":"string"}}}}})},
 "/.well-known/security.txt":{"get":op("securityTxt","RFC 9116 security.txt: where to report vulnerabilities","public",
    {"200":{"description":"Contact, Expires (one year ahead), Policy when configured","content":{"text/plain":{"schema":{"type":"string"}}}},"404":resp("NotFound")},
    desc="From the settings security-contact and security-policy; 404 when no contact is set.")},
 "/api/v1/auth/register":{"post":op("register","Ask for a customer account: a verification link goes to the address","public",
    {"202":js(ref("VerificationSent"),"Accepted, whether or not the address has an account"),"503":resp("Service Unavailable")},
    "RegisterRequest",desc="The answer is the same, after the same work (the password is hashed either way), whether or not the address has an account: nobody learns who is a customer here. A new address gets a mail with a single-use token (24 hours) for `POST /api/v1/auth/verify-email`; the account exists, and can log in, only once it is used: until then login answers 401 `invalid_credentials` exactly as for a wrong password. An address that has an account, or one that looks like it (the same Unicode TS #39 confusable skeleton), gets nothing, and the account's owner gets a notice instead. Addresses are normalised (NFKC, lower case); invisible and direction-changing characters in the address or the name, and IP-literal domains, answer 422 `validation_failed`. At most 3 mails an hour go to one address or account, however many requests ask. A weak password answers 422 `weak_password`; an instance that has not yet received a rotated blind-index keyset answers 503 `not_ready` (try again). (Before issue 11 this answered 201 with the account, and 409 `email_taken` for a taken address.)")},
 "/api/v1/auth/verify-email":{"post":op("verifyEmail","Confirm an address with the mailed token: makes the account, or sets an account's new address","public",
    {"200":js({"type":"object","required":["user"],"additionalProperties":False,"properties":{"user":ref("User")}})},"VerifyEmailRequest",
    desc="The token works once. An unknown, used or expired token, or one whose address got an account meanwhile, answers 400 `invalid_verification_token`. After a change of address the old address is told. Audited (`user.register`, `user.email_change`).")},
 "/api/v1/auth/login":{"post":op("login","Sign in and start a session","public",
    {"200":{**js(ref("LoginResponse")),"headers":{"Set-Cookie":{"description":"`__Host-bulwark_session` (HttpOnly, Secure, SameSite=Lax, Path=/) holding the same token","schema":{"type":"string"}}}},
     "401":resp("Unauthorized")},"LoginRequest",desc="An unknown email and a wrong password both answer 401 `invalid_credentials`, identically. Every way in (password, passkey, OIDC; a password reset starts no session) goes through one login gate: an account with MFA on needs its second factor (`otp`: a TOTP or recovery code), and a staff account without MFA gets a session that holds no staff permission (403 `mfa_enrollment_required`) and may enrol only with its enrolment code. Failed logins are throttled per email and address (10 in a row: 429 `too_many_attempts` for 30 minutes from that address), per email (100 a day) and per address (50 in 15 minutes), alike for staff, customer and unknown emails: no answer tells a staff email apart, and no stranger can lock a staff member out (staff failures from every address raise an alert instead; past the daily cap the owner still gets in with password and `otp`, and wrong second factors are capped at 10 a day per account).")},
 "/api/v1/auth/oidc/begin":{"get":op("beginOIDC","Start a social login at the configured OpenID Connect provider","public",
    {"302":{"description":"To the provider (authorization code flow with PKCE, state and nonce); sets the `__Host-bulwark_oidc` browser-binding cookie."},"404":resp("NotFound")},
    desc="404 when no provider is configured.")},
 "/api/v1/auth/oidc/callback":{"get":op("finishOIDC","The provider's redirect back: verifies, then starts a session or asks for the second factor","public",
    {"200":js(ref("LoginResponse")),"202":js(ref("MFAPending"),"The account has MFA on: no session yet; complete at `POST /api/v1/auth/mfa` with the ticket and a code, or a passkey (`POST /api/v1/auth/mfa/passkey/begin`)"),"401":resp("Unauthorized"),"404":resp("NotFound"),"422":resp("Unprocessable")},
    params=[{"name":"state","in":"query","required":True,"schema":{"type":"string"}},{"name":"code","in":"query","required":True,"schema":{"type":"string"}}],
    desc="A forged or replayed state, a missing binding cookie, or a token that does not verify: 401 `oidc_failed`. Accounts are linked only by an email the provider verified (422 `oidc_email_unverified`); a new email makes a customer account. The provider is one factor: an account with MFA on answers 202 with a single-use `mfa_ticket` (5 minutes) instead of a session.")},
 "/api/v1/auth/mfa":{"post":op("completeMFA","Finish a login that owes its second factor, with its MFA ticket","public",
    {"200":js(ref("LoginResponse")),"401":resp("Unauthorized")},"MFACompleteRequest",
    desc="Give exactly one second factor: `otp` (a TOTP or recovery code), or `passkey`, the assertion answering the challenge that `POST /api/v1/auth/mfa/passkey/begin` made for this ticket (neither or both: 422 `validation_failed`, and the ticket is not spent). The ticket works once, whatever the outcome: a wrong code (401 `invalid_otp`) or a passkey that does not verify (401 `passkey_failed`: another account's passkey, another ticket's or a replayed challenge, no challenge begun) means starting the sign-in again, and counts like a failed login of the account and against its daily cap of 10 wrong second factors (then 429 `too_many_attempts`); an unknown, used or expired ticket: 401 `invalid_mfa_ticket`. The login gate applies as for every way in: staff rules, and a fresh step-up.")},
 "/api/v1/auth/mfa/passkey/begin":{"post":op("beginMFAPasskey","Start the passkey assertion that finishes an MFA ticket","public",
    {"200":js(ref("MFAPasskeyChallenge")),"401":resp("Unauthorized"),"409":resp("Conflict")},"MFATicketRequest",
    desc="For an account whose second factor is a passkey. The options allow only the passkeys of the ticket's account; the challenge is kept with the ticket (a new begin replaces it) and answers only this ticket. User verification is preferred, not required: the passkey is the second factor here. The ticket is not spent. An unknown, used or expired ticket: 401 `invalid_mfa_ticket`; an account without a passkey: 409 `conflict`.")},
 "/api/v1/auth/passkey/begin":{"post":op("beginPasskeyLogin","Start a passwordless login with a passkey","public",
    {"200":js(ref("WebAuthnCeremony"))},desc="Pass `options` to navigator.credentials.get; answer within five minutes.")},
 "/api/v1/auth/passkey/finish":{"post":op("finishPasskeyLogin","Finish a passkey login; starts a session","public",
    {"200":js(ref("LoginResponse")),"401":resp("Unauthorized")},"WebAuthnAnswer",desc="An assertion that does not verify (wrong origin, unknown key, replayed ceremony, no user verification): 401 `passkey_failed`. The authenticator must verify the user (PIN or biometrics), so a passkey is both factors.")},
 "/api/v1/auth/password-reset":{"post":op("requestPasswordReset","Mail a reset link, if the account exists","public",
    {"202":{"description":"Accepted, whether or not the account exists."}},"ResetRequest",desc="The same answer, as fast, for any email; the link works once, for 30 minutes.")},
 "/api/v1/auth/password-reset/confirm":{"post":op("confirmPasswordReset","Set a new password with a reset token; ends every session","public",
    {"204":{"description":"Password set; every session of the account ended."}},"ResetConfirmRequest",desc="An unknown, used or expired token: 400 `invalid_reset_token`. No session is started: the next login needs the new password and, for an account with MFA, its second factor as before.")},
 "/api/v1/auth/logout":{"post":op("logout","End the current session at once","authenticated",{"204":{"description":"The session has ended."},"403":resp("Forbidden")})},
 "/api/v1/me":{"get":op("me","The caller's account","authenticated",{"200":js(ref("User"))}),
    "patch":op("updateMe","Correct the caller's name and ask to change their address (GDPR art. 16)","authenticated",
    {"200":js(ref("User")),"403":resp("Forbidden")},"UpdateMeRequest",
    desc="A name takes effect at once. A new address takes effect only when the token mailed to it is used at `POST /api/v1/auth/verify-email`; until then the answer, and the account, keep the old one. An address that another account has (or one that looks like it) is answered the same way and gets no mail. Audited (`user.name_change`, `user.email_change_request`)."),
    "delete":op("eraseMine","Erase the caller's account and personal data","authenticated",
    {"204":{"description":"Erased; every session ended."},"409":resp("Conflict")},"EraseRequest",
    desc="Needs the account's password (401 `invalid_credentials`, counted like a failed login; an account without a password needs a login from the last five minutes instead). The person's data key is destroyed, so their personal data becomes unrecoverable wherever a copy lies; orders stay for accounting without it, under a pseudonymous id. A staff account must lose its staff roles first (409 `staff_account`). Audited.")},
 "/api/v1/me/export":{"get":op("exportMine","Every piece of personal data held on the caller, as one JSON document","authenticated",
    {"200":js({"type":"object","description":"Format `bulwark-export/1`: docs/EXPORT.md"})},
    desc="Needs a login from the last five minutes (401 `reauthentication_required`). Never holds secrets (password hash, tokens, card numbers). Audited.")},
 "/api/v1/me/password":{"put":op("changePassword","Change the caller's password; ends every other session","authenticated",
    {"204":{"description":"Changed; other sessions ended."},"403":resp("Forbidden")},"PasswordChangeRequest",desc="A wrong current password: 401 `invalid_credentials`; a weak new one: 422 `weak_password`.")},
 "/api/v1/me/sessions":{"get":op("listSessions","The caller's live sessions","authenticated",{"200":js(ref("SessionList"))})},
 "/api/v1/me/sessions/{id}":{"delete":op("revokeSession","End one of the caller's sessions at once","authenticated",
    {"204":{"description":"Ended."},"403":resp("Forbidden"),"404":resp("NotFound")},params=[idp],desc="Another user's session answers 404. Audited.")},
 "/api/v1/me/addresses":{
    "get":op("listAddresses","The caller's address book","authenticated",{"200":js(ref("SavedAddressList"))},
      desc="The whole book, oldest first, in one page: an account keeps at most 20 addresses."),
    "post":op("createAddress","Save an address in the caller's address book","authenticated",
      {"201":js(ref("SavedAddress"),"Created"),"409":resp("Conflict"),"422":resp("Unprocessable")},"SavedAddressRequest",
      desc="Validated as a shipping address (422 `validation_failed` naming `address.*` fields). Past 20 addresses: 409 `address_book_full`. Sealed under the customer's data key; in the export; destroyed by erasure. Audited by id only.")},
 "/api/v1/me/addresses/{id}":{"delete":op("deleteAddress","Delete an address of the caller's address book","authenticated",
    {"204":{"description":"Deleted."},"404":resp("NotFound")},params=[idp],desc="Another customer's address answers 404. Orders shipped to it keep their own copy. Audited.")},
 "/api/v1/me/passkeys/begin":{"post":op("beginPasskeyRegistration","Start adding a passkey to the caller's account","authenticated",
    {"200":js(ref("WebAuthnCeremony")),"403":resp("Forbidden")},desc="Pass `options` to navigator.credentials.create. Needs a login from the last five minutes (401 `reauthentication_required`): a stolen session cannot plant a way in. A staff account without a second factor must send its one-time `enrollment_code` (403 `enrollment_code_required` / `invalid_enrollment_code`); the code is spent here.")},
 "/api/v1/me/passkeys/finish":{"post":op("finishPasskeyRegistration","Keep the passkey the authenticator made","authenticated",
    {"201":{"description":"Added. Audited; the owner is mailed."}},"WebAuthnAnswer")},
 "/api/v1/me/passkeys":{"get":op("listPasskeys","The caller's passkeys","authenticated",{"200":js(ref("PasskeyList"))})},
 "/api/v1/me/passkeys/{id}":{"delete":op("removePasskey","Remove one of the caller's passkeys","authenticated",
    {"204":{"description":"Removed. Audited; the owner is mailed."},"403":resp("Forbidden"),"404":resp("NotFound")},
    params=[{"name":"id","in":"path","required":True,"schema":{"type":"string","maxLength":1024},"description":"The passkey's `id` from the list."}],
    desc="Needs a login from the last five minutes (401 `reauthentication_required`). Another user's passkey answers 404.")},
 "/api/v1/me/mfa/recovery-codes":{"post":op("regenerateRecoveryCodes","New recovery codes, shown once; the old ones stop working","authenticated",
    {"200":js({"type":"object","required":["recovery_codes"],"properties":{"recovery_codes":{"type":"array","minItems":10,"maxItems":10,"items":{"type":"string"}}}}),"403":resp("Forbidden"),"409":resp("Conflict")},
    desc="Needs a login from the last five minutes (401 `reauthentication_required`) and TOTP on (409 `conflict`). Audited; the owner is mailed.")},
 "/api/v1/me/mfa/totp":{
    "post":op("enrollTOTP","Start TOTP enrolment: a new secret, pending until confirmed","authenticated",{"201":js(ref("TOTPEnrollment"),"Created"),"403":resp("Forbidden"),"409":resp("Conflict")},
      desc="The secret is shown once and kept encrypted. 409 when TOTP is already on. The body may be left out; a staff account without a second factor must send its one-time `enrollment_code` (403 `enrollment_code_required` / `invalid_enrollment_code`), which is spent here."),
    "delete":op("disableTOTP","Turn TOTP off","authenticated",{"204":{"description":"Off."},"409":resp("Conflict")},"OTPRequest",
      desc="Needs a current code or a recovery code: 401 `invalid_otp` otherwise.")},
 "/api/v1/me/mfa/totp/confirm":{"post":op("confirmTOTP","Turn TOTP on with a first code; returns 10 recovery codes, shown once","authenticated",
    {"200":js({"type":"object","required":["recovery_codes"],"properties":{"recovery_codes":{"type":"array","minItems":10,"maxItems":10,"items":{"type":"string"}}}}),"409":resp("Conflict")},"OTPRequest")},
 "/api/v1/products":{"get":op("listProducts","Visible products, searched, filtered and paginated","public",
    {"200":js(ref("ProductList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},
    params=LISTP,desc="Only products customers may see now (status `active`, `publish_at` passed); the others are in no list, and no word of theirs finds them. A currency the shop does not sell: 422 `currency_not_sold`.")},
 "/api/v1/products/{id}":{"get":op("getProduct","One visible product","public",{"200":js(ref("Product")),"404":resp("NotFound")},params=[idp],
    desc="A draft, archived or not yet published product answers 404 `not_found`, exactly like one that does not exist.")},
 "/api/v1/categories":{"get":op("listCategories","The category tree, parents before children","public",{"200":js(ref("CategoryList"))},
    desc="Products of a category: `GET /api/v1/products?category=` (visible products only, descendants included).")},
 "/api/v1/admin/products":{"post":op("createProduct","Create a product with its variants, or a single-variant product (v1 shorthand)","catalog:write",
    {"201":js(ref("Product"),"Created"),"404":resp("NotFound"),"409":resp("Conflict")},"CreateProductRequest",
    desc="Either `variants` (the product starts as `draft` unless `status` is given) or the v1 shorthand `sku`, `price`, `stock` (a single-variant product, `active` at once). A SKU any variant has: 409 `sku_taken`; an unknown category: 404. The description is sanitized on write (allow-list HTML). Audited."),
    "get":op("adminListProducts","Every product, whatever its status","catalog:write",{"200":js(ref("ProductList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},
    params=LISTP+[{"name":"status","in":"query","schema":{"type":"string","enum":["draft","active","archived"]}}],
    desc="Listing products customers cannot see is audited (`product.read_hidden`).")},
 "/api/v1/admin/products/{id}":{"patch":op("updateProduct","Change a product's name, description, status, publish_at, categories, or (single-variant) price","catalog:write",
    {"200":js(ref("Product")),"404":resp("NotFound")},"UpdateProductRequest",params=[idp],
    desc="`active` (v1): true is `status: active`, false `archived`. `price` on a product with several variants: 422 `not_single_variant`. Audited."),
    "get":op("adminGetProduct","One product, whatever its status","catalog:write",{"200":js(ref("Product")),"404":resp("NotFound")},params=[idp],
    desc="Reading a product customers cannot see is audited (`product.read_hidden`).")},
 "/api/v1/admin/products/{id}/stock":{"post":op("adjustStock","Add to or remove from the stock of a single-variant product","catalog:write",
    {"200":js(ref("Product")),"404":resp("NotFound"),"409":resp("Conflict")},"StockRequest",params=[idp],desc="Stock never goes below 0: 409 `insufficient_stock`. A product with several variants: 422 `not_single_variant` (use the variant's route). Audited with the reason.")},
 "/api/v1/admin/products/{id}/variants":{"post":op("addVariant","Add a variant to a product","catalog:write",
    {"201":js(ref("Product"),"Created"),"404":resp("NotFound"),"409":resp("Conflict")},"NewVariant",params=[idp],
    desc="Option values must be the product's (422); the same values as another variant: 409 `variant_options_taken`; a taken SKU: 409 `sku_taken`; more than 100 variants: 422 `too_many_variants`. Audited.")},
 "/api/v1/admin/variants/{id}":{"patch":op("updateVariant","Change a variant's SKU, prices (all replaced) or weight","catalog:write",
    {"200":js(ref("Product")),"404":resp("NotFound"),"409":resp("Conflict")},"UpdateVariantRequest",params=[idp],desc="Audited.")},
 "/api/v1/admin/variants/{id}/stock":{"post":op("adjustVariantStock","Add to or remove from a variant's stock","catalog:write",
    {"200":js(ref("Product")),"404":resp("NotFound"),"409":resp("Conflict")},"StockRequest",params=[idp],desc="Stock never goes below 0: 409 `insufficient_stock`. Audited with the reason.")},
 "/api/v1/admin/categories":{"get":op("adminListCategories","The category tree","catalog:write",{"200":js(ref("CategoryList"))}),
    "post":op("createCategory","Create a category","catalog:write",{"201":js(ref("Category"),"Created"),"404":resp("NotFound"),"409":resp("Conflict")},"CreateCategoryRequest",
    desc="An unknown parent: 404; a taken slug: 409 `slug_taken`; deeper than 5 levels: 422 `category_too_deep`. Audited.")},
 "/api/v1/admin/categories/{id}":{"patch":op("updateCategory","Rename, re-slug, move or re-order a category","catalog:write",
    {"200":js(ref("Category")),"404":resp("NotFound"),"409":resp("Conflict")},"UpdateCategoryRequest",params=[idp],
    desc="Under itself or a descendant: 409 `category_cycle`; deeper than 5 levels: 422 `category_too_deep`. Audited."),
    "delete":op("deleteCategory","Delete a category without children; its products leave it","catalog:write",
    {"204":{"description":"Deleted."},"404":resp("NotFound"),"409":resp("Conflict")},params=[idp],desc="A category with children: 409 `category_has_children`. Audited.")},
 "/api/v1/admin/users/{id}/roles":{"post":op("setRoles","Replace a user's roles","roles:manage",
    {"200":js(ref("RolesResponse")),"404":resp("NotFound"),"409":resp("Conflict")},"RolesRequest",params=[idp],
    desc="Needs a login from the last five minutes (401 `reauthentication_required`). Every account keeps `customer`. The user's sessions end, and the user's API keys lose at once what the new roles do not grant. An admin cannot remove their own admin role (409 `cannot_demote_self`). When the account is then staff without a second factor, the answer carries a one-time `enrollment_code` (shown once, 24 hours) that its first enrolment needs; hand it over apart from the password. Audited.")},

 "/api/v1/admin/users/{id}":{"delete":op("eraseUser","Erase a person's account and personal data on their request","users:erase",
    {"204":{"description":"Erased."},"404":resp("NotFound"),"409":resp("Conflict")},params=[idp],
    desc="Needs a login from the last five minutes (401 `reauthentication_required`). As `DELETE /api/v1/me`; a staff account must lose its staff roles first (409 `staff_account`). Audited.")},

 "/api/v1/admin/api-keys":{
    "post":op("createAPIKey","Create an API key for an integration","keys:manage",{"201":js(ref("APIKeyCreated"),"Created; the key is shown this once")},"APIKeyRequest",
      desc="Needs a login from the last five minutes. A key carries only permissions its creator holds and keys may carry (catalog:write, orders:read), expires within a year, and is kept only as a hash. Use it as `Authorization: Bearer bwk_...`. A key never grants more than its creator holds at the time of each request: a creator demoted (or a staff creator without MFA) leaves the key only the permissions still held (403 for the rest); a creator erased makes it refused (401); while the creator's second factor is locked (10 wrong second factors in a day), every key of the creator is suspended (403 `forbidden` on every route, as a demoted creator's key) until the lock ends."),
    "get":op("listAPIKeys","Every API key (never the keys themselves)","keys:manage",{"200":js(ref("APIKeyList"))})},
 "/api/v1/admin/blocks":{"get":op("listBlocks","The client addresses blocked now (bot trap, operator, responses to findings), latest-ending first, and the response blocks in force","blocks:manage",{"200":js(ref("BlockList"))},
    desc="The same list as `bulwark blocks list`. The bot trap never blocks the loopback or a trusted proxy, nor a request a page of another site could have caused.")},
 "/api/v1/admin/blocks/{id}":{"delete":op("liftBlock","Lift a block at once; audited as `edge.block_lifted`","blocks:manage",{"204":{"description":"Lifted."},"404":resp("NotFound")},params=[idp],
    desc="As `bulwark blocks lift ID`. An id that names no block in force answers 404.")},
 "/api/v1/admin/blocks/{id}/lift":{"post":op("liftBlockStepUp","Lift a block a response to a finding raised (`rbk_` id), or an edge block (`blk_` id), with a recent login","blocks:manage",
    {"200":js(ref("ResponseBlock")),"204":{"description":"An edge block (`blk_` id) lifted."},"404":resp("NotFound")},params=[idp],
    desc="Needs a login in the last five minutes (401 `reauthentication_required`). A response block's address, card or account is let in again at once on this instance and within a second on the others; audited as `response.block_lifted` (`edge.block_lifted` for a `blk_` id). An id that names no block in force (unknown, malformed, expired or lifted already) answers 404 and changes nothing. The subject's next block within a day still counts this one as a repeat.")},
 "/api/v1/admin/api-keys/{id}":{"delete":op("revokeAPIKey","Revoke an API key at once","keys:manage",{"204":{"description":"Revoked."},"404":resp("NotFound")},params=[idp])},
 "/api/v1/carts":{"post":op("createCart","Start an empty cart in a currency the shop sells","authenticated",{"201":js(ref("Cart"),"Created"),"403":resp("Forbidden")},
    desc="The body may be left out: the cart is then in the shop's first currency. A currency the shop does not sell: 422 `currency_not_sold`.")},
 "/api/v1/carts/{id}":{"get":op("getCart","One of the caller's carts, priced from the catalog","authenticated",{"200":js(ref("Cart")),"404":resp("NotFound")},params=[idp],
    desc="Another customer's cart answers 404, like one that does not exist.")},
 "/api/v1/carts/{id}/items/{item_id}":{"put":op("setCartItem","Set a variant's quantity in the cart (0 removes it)","authenticated",
    {"200":js(ref("Cart")),"404":resp("NotFound"),"409":resp("Conflict")},"CartItemRequest",params=[idp,{"name":"item_id","in":"path","required":True,"schema":{"type":"string","maxLength":64},"description":"A variant id, or the product id of a single-variant product (422 `variant_required` for one with several)."}],
    desc="Unknown or hidden (draft, archived, not yet published) item: 404, alike. A variant without a price in the cart's currency: 422 `not_priced_in_currency`. Prices always come from the catalog. While a checkout pays the cart: 409 `checkout_in_progress`, nothing changed.")},
 "/api/v1/carts/{id}/discount":{
    "put":op("setCartDiscount","Apply a discount code to the cart","authenticated",
      {"200":js(ref("Cart")),"404":resp("NotFound"),"409":resp("Conflict"),"422":resp("Unprocessable"),"429":resp("TooManyRequests")},"CartDiscountRequest",params=[idp],
      desc="Codes are case-insensitive; hyphens and spaces are ignored. A code that cannot be used on this cart — unknown, inactive, outside its dates, not valid in the cart's currency, below its minimum subtotal, or for none of the cart's products — answers 422 `discount_invalid` with one message whatever the reason (telling them apart would tell a guesser which codes exist); a used-up code 409 `discount_exhausted`. A refused code changes nothing. Refused codes are limited: 10 an hour per customer and 30 an hour per client address, then every code is refused 429 `too_many_attempts` with Retry-After for an hour (audited as `discount.guessing_locked`, counted in `bulwark_discount_codes_refused_total`)."),
    "delete":op("removeCartDiscount","Take the discount code off the cart","authenticated",{"200":js(ref("Cart")),"404":resp("NotFound"),"409":resp("Conflict")},params=[idp])},
 "/api/v1/carts/{id}/shipping":{"put":op("setCartShipping","Say where the cart ships to, and choose a shipping option","authenticated",
    {"200":js(ref("Cart")),"404":resp("NotFound"),"409":resp("Conflict"),"422":resp("Unprocessable")},"CartShippingRequest",params=[idp],
    desc="Only the address's country and region are kept on the cart (taxes and shipping depend on nothing else); the full address comes with the checkout. An option that does not serve the cart there (zone, currency, weight) answers 422 `shipping_unavailable` and changes nothing. Without `shipping_option` the cart shows its taxes and, when options serve the destination, the problem `shipping_required`.")},
 "/api/v1/payment-methods":{
    "post":op("createPaymentMethod","Save a card","authenticated",{"201":js(ref("PaymentMethod"),"Created")},"PaymentMethodRequest",
      desc="The number is checked (Luhn, length, brand, not expired) and goes only to the card vault; no response, log line or error echoes it."),
    "get":op("listPaymentMethods","The caller's saved cards","authenticated",{"200":js(ref("PaymentMethodList"))})},
 "/api/v1/payment-methods/{id}":{"delete":op("deletePaymentMethod","Delete a saved card, and the card in the vault","authenticated",
    {"204":{"description":"Deleted."},"403":resp("Forbidden"),"404":resp("NotFound")},params=[idp])},

 "/api/v1/checkout":{"post":op("checkout","Pay for a cart: reserve stock, authorize, create the order, capture","authenticated",
    {"201":{**js(ref("Order"),"Created, or the first answer again"),"headers":{"Idempotent-Replayed":{"description":"`true` when this is the stored answer of an earlier request with the same key","schema":{"type":"string"}}}},
     "402":resp("PaymentRequired"),"404":resp("NotFound"),"409":resp("Conflict")},"CheckoutRequest",params=[idemp],
    desc="The cart is priced again, with its discount code and shipping option, for the shipping address given here (taxes follow its country and region); a cart with a problem (`problems` of the Cart) is refused with it, and `expected_total`, when sent, must equal the new total (409 `price_changed` otherwise). These refusals, and a price or cart changed while the checkout reserves it (409 `price_changed`), change nothing and are not recorded for the key: send it again once the cart is as wanted. Not enough stock: 409 `out_of_stock`, nothing reserved or charged. Declined: 402 `payment_declined`, stock released. Same key and body: the first answer again; other body: 422 `idempotency_key_reused`; still running: 409 `request_in_progress`. Another checkout of the same cart (another key) running: 409 `checkout_in_progress`, nothing reserved or charged; a cart makes one order at a time. The CVC is used in flight only.")},
 "/api/v1/guest/carts":{"post":op("createGuestCart","Start a guest cart (guest checkout): the cart and its token, shown once","public",
    {"201":js(ref("GuestCart"),"Created"),"404":resp("NotFound")},
    desc="Only while the setting `guest-checkout` is `on`; off, every guest route answers 404. The answer's `cart_token` is shown this once (the shop keeps only its SHA-256): send it in the `Cart-Token` header to the cart routes (`/api/v1/carts/{id}`...) and to the guest checkout, never in a URL. A wrong token answers 404, as another customer's cart does. Rate limited with the checkout budget (`rate-limit-checkout`) per client address. The body may be left out (the shop's first currency).")},
 "/api/v1/guest/carts/{id}/checkout":{"post":dict(op("guestCheckout","Pay for a guest cart with an email and a card","public",
    {"201":{**js(ref("Order"),"Created, or the first answer again"),"headers":{"Idempotent-Replayed":{"description":"`true` when this is the stored answer of an earlier request with the same key","schema":{"type":"string"}}}},
     "401":resp("Unauthorized"),"402":resp("PaymentRequired"),"404":resp("NotFound"),"409":resp("Conflict")},"GuestCheckoutRequest",params=[idp,idemp,
     {"name":"Cart-Token","in":"header","required":True,"schema":{"type":"string","maxLength":100},"description":"The guest cart's token; another cart's, or none: 404 or 401."}],
    desc="The same checkout as `POST /api/v1/checkout` (pricing, stock, `expected_total`, idempotency, recovery, every refusal), with the card in the body instead of a saved payment method: it goes to the card vault for this checkout only and is deleted there when it ends, paid or not; the shop database never holds it. The email (normalised like an account's) is sealed with the guest's personal data. A paid order's answer is the order; a link to it, signed and valid 30 days, is mailed to the email: the only way to read it again. Bad input (email, card, address) answers 400/422 and reserves nothing. Rate limited with the checkout budget. 404 while `guest-checkout` is off."),security=[{"cartToken":[]}])},
 "/api/v1/guest/orders/{id}":{"get":op("guestOrder","A guest's order, through the signed link mailed to them","public",
    {"200":js(ref("Order")),"404":resp("NotFound")},params=[idp,{"name":"Order-Token","in":"header","required":True,"schema":{"type":"string","maxLength":200},
     "description":"The `token` of the mailed link's fragment (`/guest-order#order=ID&token=TOKEN` on the storefront, which passes it on here): `v1.<expiry>.<MAC>`, signed with the shop's `links` keyset for this order."}],
    desc="A missing, malformed, tampered or expired token, another order's token, and an order that does not exist all answer the same 404 `not_found`: nothing tells them apart. 404 while `guest-checkout` is off.")},
 "/api/v1/orders":{"get":op("listOrders","The caller's orders","authenticated",{"200":js(ref("OrderList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},params=pagep)},
 "/api/v1/orders/{id}":{"get":op("getOrder","One of the caller's orders","authenticated",{"200":js(ref("Order")),"404":resp("NotFound")},params=[idp])},
 "/api/v1/admin/orders":{"get":op("listAllOrders","Every customer's orders","orders:read",{"200":js(ref("OrderList")),"400":resp("BadRequest"),"403":resp("Forbidden"),"422":resp("Unprocessable")},
    params=pagep+[{"name":"email","in":"query","schema":{"type":"string","maxLength":254},"description":"Only the orders of the account with this email (matched through a keyed blind index; emails are never stored in the clear). Needs a role that sees contact data (admin, support): 403 otherwise."}])},
 "/api/v1/payment-events/stripe":{"post":op("stripeEvent","Take an event Stripe posts about a payment (Stripe's webhook endpoint)","public",
    {"200":js({"type":"object","required":["received","duplicate"],"properties":{"received":{"type":"boolean"},"duplicate":{"type":"boolean","description":"`true` when this event was taken before (Stripe retried): it changed nothing this time."}}}),
     "400":resp("BadRequest"),"404":resp("NotFound"),"413":resp("PayloadTooLarge")},
    desc="Only in a shop with `payment-gateway=stripe` and `stripe-webhook-secret` set (404 otherwise). The raw body (at most 64 KiB: 413) must carry Stripe's `Stripe-Signature` header made with the endpoint's signing secret over this exact body less than 5 minutes ago: otherwise 400 `processor_event_unverified`, or 400 `processor_event_too_old` for an older signature (a recorded delivery replayed). Each event (by Stripe's event id) is recorded once and audited (`payment.processor_event`, the order whose payment it names as target); a repeat answers 200 with `duplicate: true` and changes nothing.",
    params=[{"name":"Stripe-Signature","in":"header","required":True,"schema":{"type":"string","maxLength":4096},"description":"Stripe's signature: `t=<unix time>,v1=<hex HMAC-SHA256>`."}])},
 "/api/v1/admin/orders/{id}":{"get":op("getAnyOrder","One order, with its events, refunds and fulfilments","orders:read",{"200":js(ref("Order")),"403":resp("Forbidden"),"404":resp("NotFound")},params=[idp],
    desc="Fields by the caller's roles, as in the list.")},
 "/api/v1/admin/orders/{id}/capture":{"post":op("captureOrder","Capture an authorized order's total","orders:refund",
    {"200":{**js(ref("Order")),"headers":{"Idempotent-Replayed":{"description":"`true` when the order was captured before: answered as it is, the processor not called","schema":{"type":"string"}}}},"404":resp("NotFound"),"409":resp("Conflict"),"503":resp("NotReady")},
    "EmptyRequest",params=[idp],desc="For orders checked out with payment-capture=fulfilment (status `authorized`). Needs a login from the last five minutes. Idempotent by nature: a captured order is answered as it is; a capture running: 409 `request_in_progress`; another status: 409 `illegal_transition`. Audited, with an event and the `order.paid` webhook.")},
 "/api/v1/admin/orders/{id}/void":{"post":op("voidOrder","Void an authorized order: restock and cancel it","orders:refund",
    {"200":{**js(ref("Order")),"headers":{"Idempotent-Replayed":{"description":"`true` when the order was cancelled before","schema":{"type":"string"}}}},"404":resp("NotFound"),"409":resp("Conflict"),"503":resp("NotReady")},
    "EmptyRequest",params=[idp],desc="Needs a login from the last five minutes. Only an `authorized` (or `pending_review`) order: 409 `illegal_transition` otherwise. A cancelled order is answered as it is. Webhook `order.cancelled`.")},
 "/api/v1/admin/orders/{id}/cancel":{"post":op("cancelOrder","Cancel an order before anything shipped","orders:refund",
    {"200":{**js(ref("Order")),"headers":{"Idempotent-Replayed":{"description":"`true` when the order was cancelled before","schema":{"type":"string"}}}},"404":resp("NotFound"),"409":resp("Conflict"),"503":resp("NotReady")},
    "EmptyRequest",params=[idp],desc="Needs a login from the last five minutes. An authorized order is voided; a paid one refunded (what was captured and not refunded, as a refund of the order); every line restocked; status `cancelled`; webhooks `refund.created` (when refunded) and `order.cancelled`. After any fulfilment: 409 `illegal_transition`.")},
 "/api/v1/admin/reviews":{"get":op("listReviews","The review queue: orders fraud scoring held for review, oldest first","fraud:review",{"200":js(ref("OrderList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},
    params=pagep,desc="Orders in status `pending_review`: authorized at checkout, not captured, each with its `risk` (score, decision, reasons, versions, features). Approve or reject each.")},
 "/api/v1/admin/reviews/{id}/approve":{"post":op("approveReview","Approve an order held for review: capture it, label it legitimate","fraud:review",
    {"200":{**js(ref("Order")),"headers":{"Idempotent-Replayed":{"description":"`true` when the order was approved before: answered as it is, the processor not called","schema":{"type":"string"}}}},"404":resp("NotFound"),"409":resp("Conflict"),"503":resp("NotReady")},
    "EmptyRequest",params=[idp],desc="`id` is the order's id. Needs a login from the last five minutes. Captures the authorized total (status `paid`, webhook `order.paid`) and labels the order `legitimate` for the next model's training, in one transaction; audited with the actor. An order not held for review (or rejected): 409 `illegal_transition`; a decision running: 409 `request_in_progress`.")},
 "/api/v1/admin/reviews/{id}/reject":{"post":op("rejectReview","Reject an order held for review: void, restock, mail the customer, label it fraud","fraud:review",
    {"200":{**js(ref("Order")),"headers":{"Idempotent-Replayed":{"description":"`true` when the order was rejected before","schema":{"type":"string"}}}},"404":resp("NotFound"),"409":resp("Conflict"),"503":resp("NotReady")},
    "EmptyRequest",params=[idp],desc="Needs a login from the last five minutes. Voids the authorization, restocks every line, status `cancelled` (webhook `order.cancelled`, the customer's cancellation mail), and labels the order `fraud`, in one transaction; audited with the actor. An order not held for review (or approved): 409 `illegal_transition`.")},
 "/api/v1/admin/orders/{id}/label":{"post":op("labelOrder","Label an order fraud or legitimate, for training the fraud model","fraud:review",
    {"200":js(ref("Order")),"404":resp("NotFound"),"503":resp("NotReady")},
    "LabelRequest",params=[idp],desc="A chargeback that came in, a second thought about a review: the label replaces any earlier one, and `bulwark fraud train` learns from labelled orders. Audited with the actor. Any label but `fraud` or `legitimate`: 422 `validation_failed`, nothing changed.")},
 "/api/v1/admin/fraud/rules":{"get":op("fraudRules","The fraud rules running: the enforced set, the set in shadow, and where the enforced one comes from","fraud:rules",
    {"200":js(ref("FraudRules"))},desc="`source` is `stored` (set through this API), `file` (the `fraud-rules` setting) or `built-in` (docs/FRAUD.md)."),
   "put":op("putFraudRules","Store a rule set and run it: enforced, or in shadow beside the enforced one","fraud:rules",
    {"200":js(ref("FraudRules")),"409":resp("Conflict"),"503":resp("NotReady")},"RuleSet",
    desc="Needs a login from the last five minutes. The set is compiled first: an invalid one (an unknown attribute, a non-boolean expression, an expression past its 200 nodes or 1,000 bytes, more than 100 rules, a bad name or version) answers 422 `validation_failed` naming each problem with its rule, and the running set stays. `mode: shadow` scores every checkout with it too and keeps its decision on the order (`risk.shadow`), never enforcing it. Versions are kept: the same version again with the same rules changes nothing; with other rules, 409 `conflict`. Runs on this instance at once, on the others within 5 s. Audited (`fraud.rules_set`).")},
 "/api/v1/admin/fraud/backtest":{"post":op("fraudBacktest","What a rule set would have decided about the scored orders of the last 90 days","fraud:rules",
    {"200":js(ref("Backtest")),"503":resp("NotReady")},"RuleSet",
    desc="Runs the set over the features kept on each scored order (at most 50,000, newest first) and counts its decisions beside those made at checkout, and among the orders staff labelled. `mode` may be left out. Text attributes: the shipping country is the order's; `bin` and `brand` are not kept on orders, so rules on them see an empty string. Nothing is stored or changed. An invalid set: 422 as for PUT.")},
 "/api/v1/admin/orders/{id}/fulfillments":{"post":op("fulfilOrder","Record a shipment of some of an order's lines","orders:fulfil",
    {"201":js(ref("FulfillmentAnswer"),"Created"),"400":resp("BadRequest"),"404":resp("NotFound"),"409":resp("Conflict"),"422":resp("Unprocessable"),"503":resp("NotReady")},
    "FulfillmentRequest",params=[idp],desc="More of a line than ordered and not yet shipped: 409 `fulfillment_exceeds_order`; a line the order does not have: 422; a cancelled or refunded order: 409 `illegal_transition`. Nothing is recorded on a refusal. With payment-capture=fulfilment an authorized order is captured first; a failed capture records nothing. Status `partially_fulfilled`, then `fulfilled`; webhook `order.fulfilled`.")},
 "/api/v1/orders/{id}/returns":{"post":op("requestReturn","Ask to return shipped units of one of the caller's orders","authenticated",
    {"201":js(ref("Return"),"Created"),"400":resp("BadRequest"),"404":resp("NotFound"),"409":resp("Conflict"),"422":resp("Unprocessable")},
    "ReturnRequest",params=[idp],desc="Within `return-window` (720h) of the order's last fulfilment (409 `return_window_closed` after); no more of a line than shipped and not already in a return that was not rejected (409 `return_exceeds_shipped`); a line the order does not have: 422. Nothing is recorded on a refusal. Webhook `return.requested` (without the reason).")},
 "/api/v1/admin/returns/{id}/accept":{"post":op("acceptReturn","Accept a requested return","orders:refund",
    {"200":js(ref("Return")),"404":resp("NotFound"),"409":resp("Conflict")},"EmptyRequest",params=[idp],desc="Only a `requested` return: 409 `illegal_transition` otherwise. Audited.")},
 "/api/v1/admin/returns/{id}/reject":{"post":op("rejectReturn","Reject a requested or accepted return","orders:refund",
    {"200":js(ref("Return")),"404":resp("NotFound"),"409":resp("Conflict")},"EmptyRequest",params=[idp],desc="Its units may be asked for again. 409 `illegal_transition` for a received or rejected return. Audited.")},
 "/api/v1/admin/returns/{id}/receive":{"post":op("receiveReturn","Record an accepted return's goods as received","orders:refund",
    {"200":js(ref("Return")),"400":resp("BadRequest"),"404":resp("NotFound"),"409":resp("Conflict"),"422":resp("Unprocessable"),"503":resp("NotReady")},
    "ReceiveRequest",params=[idp],desc="Needs a login from the last five minutes. Lines listed with `restock: true` go back into stock; `refund`, when given, is refunded (never above what was captured and not refunded: 409 `refund_exceeds_capture`, nothing changed), listed in the order's `refunds`, webhook `refund.created`. A receipt running: 409 `request_in_progress`. Audited.")},
 "/api/v1/admin/orders/{id}/refund":{"post":op("refundOrder","Refund part or all of an order's capture","orders:refund",
    {"200":{**js(ref("Order")),"headers":{"Idempotent-Replayed":{"description":"`true` for a repeated key","schema":{"type":"string"}}}},"404":resp("NotFound"),"409":resp("Conflict")},
    "RefundRequest",params=[idp,idemp],desc="Needs a login from the last five minutes (401 `reauthentication_required`). The body is required; `{}` (no `amount`) refunds the rest. Never above what was captured: 409 `refund_exceeds_capture`. Audited.")},
}
ROLE_ENUM=["customer","support","catalog","fulfillment","finance","admin"]
money={"type":"object","required":["amount","currency"],"additionalProperties":False,"properties":{
  "amount":{"type":"integer","format":"int64","minimum":0,"maximum":1000000000000,"description":"Integer minor units (cents for EUR)."},
  "currency":{"type":"string","pattern":"^[A-Z]{3}$","description":"ISO 4217; must be the shop's currency."}}}
# idof is an id that internal/id made: its prefix and 26 characters of base32
# (RFC 4648 alphabet in lower case). Its shape is exact, so the WAF's positive
# model does not pattern-match a valid one (internal/waf/bodies.go).
idof=lambda prefix: {"type":"string","pattern":"^"+prefix+"[a-z2-7]{26}$"}
text=lambda mn,mx,d=None: {k:v for k,v in {"type":"string","minLength":mn,"maxLength":mx,"description":d}.items() if v is not None}
schemas={
 "Money":money,
 "User":{"type":"object","required":["id","email","name","roles","mfa_enabled","created_at"],"properties":{
   "id":{"type":"string","pattern":"^usr_"},"email":{"type":"string","format":"email"},"name":{"type":"string"},
   "roles":{"type":"array","items":{"type":"string","enum":ROLE_ENUM}},"mfa_enabled":{"type":"boolean"},"created_at":{"type":"string","format":"date-time"}}},
 "LoginResponse":{"type":"object","required":["token","expires_at","user"],"properties":{
   "token":{"type":"string","pattern":"^bws_","description":"Bearer token; 256 random bits, kept by the server only as a hash."},
   "expires_at":{"type":"string","format":"date-time","description":"The absolute end of the session; it also ends when idle."},"user":ref("User")}},
 "MFAPending":{"type":"object","required":["status","mfa_ticket","expires_at"],"properties":{
   "status":{"type":"string","const":"mfa_required"},"mfa_ticket":{"type":"string","pattern":"^bwm_","description":"Single use; kept by the server only as a hash."},
   "expires_at":{"type":"string","format":"date-time"}}},
 "MFACompleteRequest":{"type":"object","required":["ticket"],"additionalProperties":False,"oneOf":[{"required":["otp"]},{"required":["passkey"]}],"properties":{
   "ticket":{"type":"string","pattern":"^bwm_"},"otp":{"type":"string","description":"Six digits, or a recovery code"},
   "passkey":{"type":"object","description":"The PublicKeyCredential (assertion) as the browser returned it for the ticket's challenge, JSON-encoded"}}},
 "MFATicketRequest":{"type":"object","required":["ticket"],"additionalProperties":False,"properties":{"ticket":{"type":"string","pattern":"^bwm_"}}},
 "MFAPasskeyChallenge":{"type":"object","required":["options"],"additionalProperties":False,"properties":{
   "options":{"type":"object","description":"WebAuthn PublicKeyCredentialRequestOptions, under `publicKey`, for navigator.credentials.get; answer within the ticket's five minutes"}}},
 "EnrollmentRequest":{"type":"object","additionalProperties":False,"properties":{
   "enrollment_code":{"type":"string","pattern":"^bwe_","description":"Staff without a second factor only: the one-time code from `bulwark admin create` or from the role grant."}}},
 "RolesResponse":{"allOf":[ref("User"),{"type":"object","properties":{"enrollment_code":{"type":"string","pattern":"^bwe_","description":"Present when the account is staff without a second factor: shown this once, valid 24 hours, single use."}}}]},
 "Product":{"type":"object","required":["id","sku","name","description","price","stock","active","status","categories","options","variants","created_at","updated_at"],"properties":{
   "id":{"type":"string","pattern":"^prod_"},"name":{"type":"string"},"description":{"type":"string","description":"HTML, sanitized on write (allow-list)."},
   "sku":{"type":"string","description":"v1 shorthand: the first variant's SKU."},
   "price":dict(ref("Money"),description="v1 shorthand: the first variant's price in the shop's first currency (else its first price)."),
   "stock":{"type":"integer","format":"int64","minimum":0,"description":"v1 shorthand: the first variant's stock."},
   "active":{"type":"boolean","description":"Whether customers may see the product now."},
   "status":{"type":"string","enum":["draft","active","archived"]},"publish_at":{"type":"string","format":"date-time","description":"Absent when none."},
   "categories":{"type":"array","items":{"type":"string","pattern":"^cat_"}},
   "options":{"type":"array","items":ref("Option")},"variants":{"type":"array","minItems":1,"items":ref("Variant")},
   "created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}},
 "Option":{"type":"object","required":["name","values"],"additionalProperties":False,"properties":{"name":text(1,50),"values":{"type":"array","minItems":1,"maxItems":50,"items":text(1,50)}}},
 "Variant":{"type":"object","required":["id","sku","options","prices","stock","weight_grams"],"properties":{
   "id":{"type":"string","pattern":"^var_"},"sku":{"type":"string"},"options":{"type":"object","additionalProperties":{"type":"string"}},
   "prices":{"type":"array","items":ref("Money"),"description":"At most one per currency."},"stock":{"type":"integer","format":"int64","minimum":0},"weight_grams":{"type":"integer","format":"int64","minimum":0}}},
 "NewVariant":{"type":"object","required":["sku","prices","stock"],"additionalProperties":False,"properties":{
   "sku":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},"options":{"type":"object","additionalProperties":{"type":"string"},"description":"A value of each of the product's options, and nothing else."},
   "prices":{"type":"array","minItems":1,"maxItems":20,"items":ref("Money"),"description":"Currencies the shop sells, at most one price each."},
   "stock":{"type":"integer","format":"int64","minimum":0,"maximum":1000000000},"weight_grams":{"type":"integer","format":"int64","minimum":0,"maximum":1000000000}}},
 "UpdateVariantRequest":{"type":"object","minProperties":1,"additionalProperties":False,"properties":{
   "sku":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},"prices":{"type":"array","minItems":1,"maxItems":20,"items":ref("Money")},
   "weight_grams":{"type":"integer","format":"int64","minimum":0,"maximum":1000000000}}},
 "Category":{"type":"object","required":["id","name","slug","position","created_at","updated_at"],"properties":{
   "id":{"type":"string","pattern":"^cat_"},"parent_id":{"type":"string","pattern":"^cat_","description":"Absent for a root."},"name":{"type":"string"},
   "slug":{"type":"string","pattern":"^[a-z0-9]+(-[a-z0-9]+)*$"},"position":{"type":"integer"},
   "created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}},
 "CategoryList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Category")}}},
 "CreateCategoryRequest":{"type":"object","required":["name","slug"],"additionalProperties":False,"properties":{
   "name":text(1,200),"slug":{"type":"string","maxLength":100,"pattern":"^[a-z0-9]+(-[a-z0-9]+)*$"},"parent_id":{"type":"string","pattern":"^cat_"},"position":{"type":"integer","minimum":0,"maximum":1000000}}},
 "UpdateCategoryRequest":{"type":"object","minProperties":1,"additionalProperties":False,"properties":{
   "name":text(1,200),"slug":{"type":"string","maxLength":100,"pattern":"^[a-z0-9]+(-[a-z0-9]+)*$"},"parent_id":{"type":"string","description":"A category id, or \"\" to make it a root."},"position":{"type":"integer","minimum":0,"maximum":1000000}}},
 "ProductList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Product")},
   "next_cursor":{"type":"string","description":"Absent on the last page."}}},
 "RegisterRequest":{"type":"object","required":["email","password","name"],"additionalProperties":False,"properties":{
   "email":{"type":"string","format":"email","maxLength":254},
   "password":{"type":"string","minLength":12,"maxLength":256,"description":"12 to 256 characters, not a commonly used password; no composition rules."},
   "name":text(1,100,"No control, invisible or direction-changing characters; NFKC-normalised."),
   "website":{"type":"string","maxLength":0,"description":"Honeypot: a form field people never see; leave it out or empty. A registration that fills it answers like a success (202) and creates nothing."}}},
 "VerificationSent":{"type":"object","required":["status"],"additionalProperties":False,"properties":{"status":{"type":"string","const":"verification_sent"}}},
 "VerifyEmailRequest":{"type":"object","required":["token"],"additionalProperties":False,"properties":{"token":{"type":"string","maxLength":128,"description":"`bwv_...` from the mailed link."}}},
 "UpdateMeRequest":{"type":"object","additionalProperties":False,"properties":{
   "name":text(1,100,"No control, invisible or direction-changing characters; NFKC-normalised."),
   "email":{"type":"string","format":"email","maxLength":254,"description":"Takes effect once verified."}}},
 "PasskeyList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":{"type":"object","required":["id","created_at"],
   "properties":{"id":{"type":"string","description":"The credential id, base64url."},"created_at":{"type":"string","format":"date-time"}}}}}},
 "LoginRequest":{"type":"object","required":["email","password"],"additionalProperties":False,"properties":{
   "email":{"type":"string"},"password":{"type":"string"},"otp":{"type":"string","description":"For an account with TOTP on: six digits or a recovery code. Missing: 401 `mfa_required`; wrong or used: 401 `invalid_otp`."}}},
 "CreateProductRequest":{"type":"object","required":["name"],"additionalProperties":False,
   "description":"Either `variants` (with `options`) or the v1 shorthand `sku`, `price`, `stock` — not both.","properties":{
   "name":text(1,200),"description":text(0,10000,"HTML, sanitized on write; newlines and tabs allowed, no other control characters."),
   "status":{"type":"string","enum":["draft","active","archived"],"description":"Default `draft` (the shorthand: `active`)."},
   "publish_at":{"type":"string","format":"date-time"},"categories":{"type":"array","maxItems":20,"items":{"type":"string","pattern":"^cat_"}},
   "options":{"type":"array","maxItems":3,"items":ref("Option")},"variants":{"type":"array","minItems":1,"maxItems":100,"items":ref("NewVariant")},
   "sku":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$"},"price":ref("Money"),"stock":{"type":"integer","format":"int64","minimum":0,"maximum":1000000000}}},
 "UpdateProductRequest":{"type":"object","minProperties":1,"additionalProperties":False,"properties":{
   "name":text(1,200),"description":text(0,10000),"price":ref("Money"),"active":{"type":"boolean"},
   "status":{"type":"string","enum":["draft","active","archived"]},"publish_at":{"type":"string","description":"RFC 3339, or \"\" to remove it."},
   "categories":{"type":"array","maxItems":20,"items":{"type":"string","pattern":"^cat_"}}}},
 "StockRequest":{"type":"object","required":["delta","reason"],"additionalProperties":False,"properties":{
   "delta":{"type":"integer","minimum":-1000000,"maximum":1000000,"not":{"const":0}},"reason":text(1,200,"Kept in the audit trail.")}},
 "RolesRequest":{"type":"object","required":["roles"],"additionalProperties":False,"properties":{
   "roles":{"type":"array","maxItems":6,"items":{"type":"string","enum":ROLE_ENUM}}}},
 "CartLine":{"type":"object","required":["variant_id","product_id","sku","name","options","quantity","unit_price","line_total","discount","tax"],"properties":{
   "variant_id":{"type":"string","pattern":"^var_"},"product_id":{"type":"string"},"options":{"type":"object","additionalProperties":{"type":"string"}},"sku":{"type":"string"},"name":{"type":"string"},"quantity":{"type":"integer","minimum":1,"maximum":99},
   "unit_price":ref("Money"),"line_total":ref("Money"),"discount":dict(ref("Money"),description="This line's part of the discount."),
   "tax":dict(ref("Money"),description="Tax on the line after its discount (contained in line_total when tax_inclusive).")}},
 "TaxLine":{"type":"object","required":["rate_id","name","country","rate_ppm","base","amount"],"properties":{
   "rate_id":{"type":"string"},"name":{"type":"string"},"country":{"type":"string"},"region":{"type":"string"},"rate_ppm":{"type":"integer"},
   "base":dict(ref("Money"),description="What was taxed: the lines after discount, and shipping."),"amount":ref("Money")}},
 "Cart":{"type":"object","required":["id","currency","items","unavailable_items","subtotal","discount","shipping_address","shipping","tax_inclusive","taxes_known","taxes","tax","total","problems"],
   "description":"Every amount is computed by the server (docs/API.md, the rounding rules). `total` = subtotal − discount + shipping (+ tax unless tax_inclusive). `problems` lists what checkout would refuse this cart for, besides stock and payment.","properties":{
   "id":{"type":"string","pattern":"^cart_"},"currency":{"type":"string","pattern":"^[A-Z]{3}$"},
   "items":{"type":"array","items":ref("CartLine")},
   "unavailable_items":{"type":"array","description":"Lines customers cannot buy now (withdrawn from sale, or not priced in the cart's currency): not priced; remove them to check out.",
     "items":{"type":"object","required":["variant_id","quantity"],"properties":{"variant_id":{"type":"string"},"quantity":{"type":"integer"}}}},
   "subtotal":ref("Money"),
   "discount":{"type":["object","null"],"required":["code","amount"],"properties":{"code":{"type":"string"},"amount":ref("Money")}},
   "shipping_address":{"type":["object","null"],"required":["country"],"properties":{"country":{"type":"string"},"region":{"type":"string"}}},
   "shipping":{"type":["object","null"],"required":["option_id","name","price","amount"],"properties":{"option_id":{"type":"string"},"name":{"type":"string"},
     "price":dict(ref("Money"),description="The option's price for this cart."),"amount":dict(ref("Money"),description="What is charged (0 under a free-shipping discount).")}},
   "tax_inclusive":{"type":"boolean"},"taxes_known":{"type":"boolean","description":"False until the cart has a shipping address."},
   "taxes":{"type":"array","items":ref("TaxLine")},"tax":ref("Money"),"total":ref("Money"),
   "problems":{"type":"array","items":{"type":"object","required":["code","detail"],"properties":{
     "code":{"type":"string","enum":["discount_invalid","discount_exhausted","shipping_unavailable","shipping_required","out_of_stock"]},"detail":{"type":"string"}}}}}},
 "CartDiscountRequest":{"type":"object","required":["code"],"additionalProperties":False,"properties":{"code":{"type":"string","maxLength":128}}},
 "CartShippingRequest":{"type":"object","required":["address"],"additionalProperties":False,"properties":{
   "address":{"type":"object","required":["country"],"description":"An Address; only country and region are read and kept.","properties":{
     "country":{"type":"string","pattern":"^[A-Z]{2}$"},"region":{"type":"string","pattern":"^[A-Z0-9]{1,3}$"}}},
   "shipping_option":{"type":"string","description":"A `ship_` id from GET /api/v1/shipping-options; absent to choose later."}}},
 "CreateCartRequest":{"type":"object","additionalProperties":False,"properties":{"currency":{"type":"string","pattern":"^[A-Z]{3}$","description":"Default: the shop's first currency."}}},
 "CartItemRequest":{"type":"object","required":["quantity"],"additionalProperties":False,"properties":{"quantity":{"type":"integer","minimum":0,"maximum":99}}},
 "PaymentMethodRequest":{"type":"object","required":["number","exp_month","exp_year","holder"],"additionalProperties":False,"properties":{
   "number":{"type":"string","description":"12 to 19 digits; spaces and dashes between groups are ignored."},
   "exp_month":{"type":"integer","minimum":1,"maximum":12},"exp_year":{"type":"integer","minimum":2000},"holder":text(1,100),
   "billing_country":{"type":"string","pattern":"^[A-Z]{2}$","description":"ISO 3166-1 alpha-2 country of the card's billing address (optional): fraud scoring compares it with the shipping address's."}}},
 "PaymentMethod":{"type":"object","required":["id","brand","last4","exp_month","exp_year"],"properties":{
   "id":{"type":"string","pattern":"^pm_"},"brand":{"type":"string","enum":["visa","mastercard","amex","discover","jcb","diners","unionpay"]},
   "last4":{"type":"string","pattern":"^[0-9]{4}$"},"exp_month":{"type":"integer"},"exp_year":{"type":"integer"},
   "billing_country":{"type":"string","description":"Absent when the customer did not give it."}}},
 "PaymentMethodList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("PaymentMethod")}}},
 "Address":{"type":"object","required":["name","line1","city","postal_code","country"],"additionalProperties":False,"properties":{
   "name":text(1,100),"line1":text(1,200),"line2":text(0,200),"city":text(1,100),"postal_code":text(1,20),
   "country":{"type":"string","pattern":"^[A-Z]{2}$","description":"ISO 3166-1 alpha-2"},
   "region":{"type":"string","pattern":"^[A-Z0-9]{1,3}$","description":"The part after the hyphen of the ISO 3166-2 code (CA of US-CA), where taxes or shipping differ by region."},
   "phone":{"type":"string","maxLength":25}}},
 "SavedAddressRequest":{"type":"object","required":["address"],"additionalProperties":False,"properties":{"address":ref("Address")}},
 "SavedAddress":{"type":"object","required":["id","address","created_at"],"properties":{
   "id":{"type":"string","pattern":"^adr_"},"address":ref("Address"),"created_at":{"type":"string","format":"date-time"}}},
 "SavedAddressList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("SavedAddress")}}},
 "CheckoutRequest":{"type":"object","required":["cart_id","payment_method","cvc"],"additionalProperties":False,
   "description":"Exactly one of `shipping_address` and `shipping_address_id`.","properties":{
   "cart_id":idof("cart_"),"payment_method":idof("pm_"),"cvc":{"type":"string","pattern":"^[0-9]{3,4}$","description":"Used in flight only; never stored or logged."},
   "shipping_address":ref("Address"),
   "shipping_address_id":dict(idof("adr_"),description="An address of the caller's address book (GET /api/v1/me/addresses), instead of `shipping_address`; another customer's: 404."),
   "expected_total":dict(ref("Money"),description="The total the customer was shown; another total now: 409 `price_changed`, nothing reserved or charged.")}},
 "GuestCard":{"type":"object","required":["number","exp_month","exp_year","holder"],"additionalProperties":False,"properties":{
   "number":{"type":"string","description":"12 to 19 digits; checked (Luhn, length, brand, not expired); goes only to the card vault, for this checkout."},
   "exp_month":{"type":"integer","minimum":1,"maximum":12},"exp_year":{"type":"integer","minimum":2000,"maximum":2100},"holder":text(1,100),
   "billing_country":{"type":"string","pattern":"^[A-Z]{2}$","description":"ISO 3166-1 alpha-2 country of the card's billing address (optional): fraud scoring compares it with the shipping address's."}}},
 "GuestCheckoutRequest":{"type":"object","required":["email","card","cvc","shipping_address"],"additionalProperties":False,"properties":{
   "email":{"type":"string","maxLength":254,"description":"Where the link to the order is mailed; sealed, never shown but to the roles that see contact data."},
   "card":ref("GuestCard"),"cvc":{"type":"string","pattern":"^[0-9]{3,4}$","description":"Used in flight only; never stored or logged."},
   "shipping_address":ref("Address"),
   "expected_total":dict(ref("Money"),description="The total the guest was shown; another total now: 409 `price_changed`, nothing reserved or charged.")}},
 "GuestCart":{"allOf":[ref("Cart"),{"type":"object","required":["cart_token"],"properties":{"cart_token":{"type":"string","pattern":"^bgc_","description":"Shown once; send it in the `Cart-Token` header."}}}]},
 "OrderLine":{"type":"object","required":["line_id","variant_id","product_id","sku","name","options","quantity","fulfilled","returned"],"properties":{
   "line_id":{"type":"string","pattern":"^oli_"},"fulfilled":{"type":"integer","minimum":0,"description":"How many have shipped."},
   "returned":{"type":"integer","minimum":0,"description":"How many of those a return (not rejected) holds."},
   "variant_id":{"type":"string","pattern":"^var_"},"product_id":{"type":"string","description":"The product the variant belonged to, for history."},"options":{"type":"object","additionalProperties":{"type":"string"}},"sku":{"type":"string"},"name":{"type":"string"},"quantity":{"type":"integer"},"unit_price":ref("Money"),"line_total":ref("Money"),"discount":ref("Money"),"tax":ref("Money")}},
 "Order":{"type":"object","required":["id","status","items","created_at"],
   "description":"Fields by role (docs/ACCESS.md): fulfillment sees no amounts or payment; finance no address or contact; only admin and support see `customer`.","properties":{
   "customer":{"type":"object","properties":{"id":{"type":"string"},"email":{"type":"string"},"name":{"type":"string"},
     "guest":{"type":"boolean","description":"A guest of guest checkout: no account; `id` is the guest's pseudonymous id, by which staff erase it."}}},
   "id":{"type":"string","pattern":"^ord_"},"status":{"type":"string","enum":["pending_review","authorized","paid","partially_fulfilled","fulfilled","cancelled","refunded","partially_refunded"]},
   "items":{"type":"array","items":ref("OrderLine")},"subtotal":ref("Money"),"discount":ref("Money"),"discount_code":{"type":"string"},
   "shipping":ref("Money"),"shipping_option":{"type":"object","properties":{"option_id":{"type":"string"},"name":{"type":"string"}}},
   "tax":ref("Money"),"tax_inclusive":{"type":"boolean"},"taxes":{"type":"array","items":ref("TaxLine")},"total":ref("Money"),"captured":ref("Money"),"refunded":ref("Money"),
   "events":{"type":"array","items":ref("OrderEvent"),"description":"One order only (not in lists): every transition, oldest first."},
   "refunds":{"type":"array","items":ref("OrderRefund"),"description":"One order only, for roles that see amounts."},
   "fulfillments":{"type":"array","items":ref("Fulfillment"),"description":"One order only."},
   "returns":{"type":"array","items":ref("Return"),"description":"One order only."},
   "payment":{"type":"object","required":["brand","last4"],"properties":{"brand":{"type":"string"},"last4":{"type":"string"}}},
   "shipping_address":ref("Address"),"created_at":{"type":"string","format":"date-time"},
   "risk":{**ref("Risk"),"description":"Finance and admin only; absent when nothing scored the order."},
   "label":{"type":"string","enum":["fraud","legitimate"],"description":"The training label staff gave the order. Finance and admin only."}}},
 "OrderList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Order")},"next_cursor":{"type":"string"}}},
 "RefundRequest":{"type":"object","additionalProperties":False,"properties":{"amount":ref("Money")}},
 "Rule":{"type":"object","additionalProperties":False,"required":["name","action","expr"],"properties":{
   "name":{"type":"string","pattern":"^[a-z0-9][a-z0-9_.-]{0,63}$"},"action":{"type":"string","enum":["block","review","allow"]},
   "expr":{"type":"string","minLength":1,"maxLength":1000,"description":"A boolean expr-lang expression over the attributes of docs/FRAUD.md, e.g. `card_declines_hour >= 3 && amount < 5`."}}},
 "RuleSet":{"type":"object","additionalProperties":False,"required":["version","rules"],"properties":{
   "version":{"type":"string","pattern":"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"},"mode":{"type":"string","enum":["enforce","shadow"]},
   "rules":{"type":"array","maxItems":100,"items":ref("Rule")}}},
 "FraudRules":{"type":"object","required":["enforced","shadow","source","model","shadow_model"],"properties":{
   "enforced":ref("RuleSet"),"shadow":{"oneOf":[ref("RuleSet"),{"type":"null"}]},"source":{"type":"string","enum":["stored","file","built-in"]},
   "model":{"type":"string","description":"The trained model enforced (`bulwark fraud activate`), empty for none."},
   "shadow_model":{"type":"string","description":"The trained model in shadow, empty for none."}}},
 "Outcome":{"type":"object","required":["allow","review","block"],"properties":{"allow":{"type":"integer"},"review":{"type":"integer"},"block":{"type":"integer"}}},
 "Backtest":{"type":"object","required":["version","since","orders","would","was","changed","fraud","legitimate"],"properties":{
   "version":{"type":"string"},"since":{"type":"string","format":"date-time"},"orders":{"type":"integer","description":"Scored orders read."},
   "would":{**ref("Outcome"),"description":"The set's decisions."},"was":{**ref("Outcome"),"description":"The decisions made at checkout."},
   "changed":{"type":"integer","description":"Orders whose decision would differ."},
   "fraud":{**ref("Outcome"),"description":"The set's decisions about the orders labelled fraud."},
   "legitimate":{**ref("Outcome"),"description":"The set's decisions about the orders labelled legitimate."}}},
 "LabelRequest":{"type":"object","additionalProperties":False,"required":["label"],"properties":{"label":{"type":"string","enum":["fraud","legitimate"]}}},
 "Risk":{"type":"object","required":["score","decision","reasons"],"description":"What fraud scoring concluded at checkout. Finance and admin only.","properties":{
   "score":{"type":"integer","minimum":0,"maximum":99},"decision":{"type":"string","enum":["allow","review","block"]},
   "reasons":{"type":"array","items":{"type":"string"},"description":"The rules that fired, the features that pushed the model's score, or that scoring failed (the order held)."},
   "model_version":{"type":"string"},"rules_version":{"type":"string"},
   "features":{"type":"object","additionalProperties":{"type":"number"},"description":"The attributes scored, by name (docs/FRAUD.md); never a card number or CVC."},
   "shadow":{"type":"string","description":"What a rule set or model in shadow mode would have decided (not enforced)."}}},
 "EmptyRequest":{"type":"object","additionalProperties":False,"description":"`{}`: a bare POST moves no money.","properties":{}},
 "OrderEvent":{"type":"object","required":["at","actor_kind","action","from","to"],"properties":{
   "at":{"type":"string","format":"date-time"},"actor_kind":{"type":"string","enum":["customer","staff","system"]},
   "action":{"type":"string","enum":["pay","authorize","hold","capture","void","expire","cancel","fulfil_partial","fulfil","refund_partial","refund"]},
   "from":{"type":"string"},"to":{"type":"string"}}},
 "OrderRefund":{"type":"object","required":["id","amount","status","created_at"],"properties":{
   "id":{"type":"string","pattern":"^ref_"},"amount":ref("Money"),"status":{"type":"string","enum":["pending","succeeded"]},"created_at":{"type":"string","format":"date-time"}}},
 "FulfillmentLine":{"type":"object","required":["line_id","quantity"],"additionalProperties":False,"properties":{
   "line_id":{"type":"string","pattern":"^oli_"},"quantity":{"type":"integer","minimum":1,"maximum":99}}},
 "FulfillmentRequest":{"type":"object","required":["lines","carrier","tracking_number"],"additionalProperties":False,"properties":{
   "lines":{"type":"array","minItems":1,"maxItems":100,"items":ref("FulfillmentLine")},
   "carrier":{"type":"string","minLength":1,"maxLength":100},"tracking_number":{"type":"string","minLength":1,"maxLength":100}}},
 "Fulfillment":{"type":"object","required":["id","lines","carrier","tracking_number","created_at"],"properties":{
   "id":{"type":"string","pattern":"^ful_"},"lines":{"type":"array","items":ref("FulfillmentLine")},"carrier":{"type":"string"},
   "tracking_number":{"type":"string"},"created_at":{"type":"string","format":"date-time"}}},
 "ReturnRequest":{"type":"object","required":["lines","reason"],"additionalProperties":False,"properties":{
   "lines":{"type":"array","minItems":1,"maxItems":100,"items":ref("FulfillmentLine")},"reason":{"type":"string","minLength":1,"maxLength":500}}},
 "ReceiveRequest":{"type":"object","additionalProperties":False,"properties":{
   "lines":{"type":"array","maxItems":100,"items":{"type":"object","required":["line_id","restock"],"additionalProperties":False,"properties":{
     "line_id":{"type":"string","pattern":"^oli_"},"restock":{"type":"boolean"}}}},"refund":ref("Money")}},
 "Return":{"type":"object","required":["id","order_id","status","reason","lines","created_at","updated_at"],"properties":{
   "id":{"type":"string","pattern":"^ret_"},"order_id":{"type":"string","pattern":"^ord_"},
   "status":{"type":"string","enum":["requested","accepted","receiving","received","rejected"]},"reason":{"type":"string"},
   "lines":{"type":"array","items":{"type":"object","required":["line_id","quantity","restock"],"properties":{
     "line_id":{"type":"string"},"quantity":{"type":"integer"},"restock":{"type":"boolean"}}}},
   "refund_id":{"type":"string","pattern":"^ref_"},"created_at":{"type":"string","format":"date-time"},"updated_at":{"type":"string","format":"date-time"}}},
 "FulfillmentAnswer":{"type":"object","required":["fulfillment","order"],"properties":{"fulfillment":ref("Fulfillment"),"order":ref("Order")}},
 "APIKey":{"type":"object","required":["id","name","permissions","created_at","expires_at"],"properties":{
   "id":{"type":"string","pattern":"^key_"},"name":{"type":"string"},"permissions":{"type":"array","items":{"type":"string","enum":["catalog:write","orders:read"]}},
   "created_at":{"type":"string","format":"date-time"},"expires_at":{"type":"string","format":"date-time"},
   "last_used_at":{"type":"string","format":"date-time"},"revoked_at":{"type":"string","format":"date-time"}}},
 "APIKeyCreated":{"allOf":[ref("APIKey"),{"type":"object","required":["key"],"properties":{"key":{"type":"string","pattern":"^bwk_"}}}]},
 "Block":{"type":"object","required":["id","address","until","reason"],"properties":{
   "id":{"type":"string","pattern":"^blk_"},"address":{"type":"string","description":"The client address (IPv4 or IPv6)."},
   "until":{"type":"string","format":"date-time"},"reason":{"type":"string","description":"Why: the bot trap's method, path and user agent, or an operator's note."}}},
 "BlockList":{"type":"object","required":["items","responses"],"properties":{"items":{"type":"array","items":ref("Block")},
   "responses":{"type":"array","items":ref("ResponseBlock"),"description":"The blocks responses to findings raised that are in force (address, card, account), latest-ending first; an address among them is also one of `items`."}}},
 "ResponseBlock":{"type":"object","required":["id","subject","action","finding_id","created_at","expires_at","repeat"],"properties":{
   "id":{"type":"string","pattern":"^rbk_"},
   "subject":{"type":"object","required":["kind","id"],"properties":{"kind":{"type":"string","enum":["ip","account","card"]},"id":{"type":"string"}}},
   "action":{"type":"string","enum":["block-ip","block-card","lock-account"]},
   "finding_id":{"type":"string","pattern":"^fnd_"},
   "created_at":{"type":"string","format":"date-time"},"expires_at":{"type":"string","format":"date-time"},
   "lifted_at":{"type":"string","format":"date-time"},"lifted_by":{"type":"string"},
   "repeat":{"type":"integer","minimum":1,"description":"This block among the subject's blocks within a day: the n-th lasts the base doubled n-1 times, up to the rule's cap."}}},
 "APIKeyList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("APIKey")}}},
 "APIKeyRequest":{"type":"object","required":["name","permissions","expires_at"],"additionalProperties":False,"properties":{
   "name":text(1,100),"permissions":{"type":"array","minItems":1,"items":{"type":"string","enum":["catalog:write","orders:read"]}},
   "expires_at":{"type":"string","format":"date-time"}}},
 "ResetRequest":{"type":"object","required":["email"],"additionalProperties":False,"properties":{"email":{"type":"string"}}},
 "ResetConfirmRequest":{"type":"object","required":["token","password"],"additionalProperties":False,"properties":{"token":{"type":"string","pattern":"^bwr_"},"password":{"type":"string","minLength":12,"maxLength":256}}},
 "EraseRequest":{"type":"object","required":["password"],"additionalProperties":False,"properties":{
    "password":{"type":"string","maxLength":1024}}},
 "PasswordChangeRequest":{"type":"object","required":["current_password","new_password"],"additionalProperties":False,"properties":{
   "current_password":{"type":"string"},"new_password":{"type":"string","minLength":12,"maxLength":256}}},
 "WebAuthnCeremony":{"type":"object","required":["ceremony_id","options"],"properties":{"ceremony_id":{"type":"string","pattern":"^wac_"},
   "options":{"type":"object","description":"WebAuthn PublicKeyCredentialCreationOptions or RequestOptions, under `publicKey`"}}},
 "WebAuthnAnswer":{"type":"object","required":["ceremony_id","credential"],"additionalProperties":False,"properties":{"ceremony_id":{"type":"string"},
   "credential":{"type":"object","description":"The PublicKeyCredential as the browser returned it, JSON-encoded"}}},
 "Session":{"type":"object","required":["id","created_at","last_used_at","ip","user_agent","current"],"properties":{
   "id":{"type":"string","pattern":"^ses_"},"created_at":{"type":"string","format":"date-time"},"last_used_at":{"type":"string","format":"date-time"},
   "ip":{"type":"string"},"user_agent":{"type":"string"},"current":{"type":"boolean"}}},
 "SessionList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Session")}}},
 "TOTPEnrollment":{"type":"object","required":["secret","otpauth_url"],"properties":{"secret":{"type":"string","description":"Base32, for manual entry"},"otpauth_url":{"type":"string","description":"For a QR code"}}},
 "OTPRequest":{"type":"object","required":["otp"],"additionalProperties":False,"properties":{"otp":{"type":"string","description":"Six digits, or a recovery code (each works once)"}}},
 "FieldError":{"type":"object","required":["field","message"],"properties":{"field":{"type":"string"},"message":{"type":"string"}}},
 "Problem":{"type":"object","required":["type","title","status","code"],"properties":{
   "type":{"type":"string","format":"uri","description":"urn:bulwark:problem:<code>"},"title":{"type":"string"},"status":{"type":"integer"},
   "detail":{"type":"string"},"code":{"type":"string","description":"Stable snake_case code clients may switch on."},
   "request_id":{"type":"string","description":"Also in the X-Request-Id header and the server log."},
   "errors":{"type":"array","items":ref("FieldError"),"description":"Only for validation errors."}}},
 "Root":{"type":"object","required":["service","api","openapi","health","docs"],"additionalProperties":False,"properties":{"service":{"type":"string"},"api":{"type":"string"},"openapi":{"type":"string"},"health":{"type":"string"},"docs":{"type":"string"}}},
 "Health":{"type":"object","required":["status"],"properties":{"status":{"type":"string","enum":["ok","ready"]}}},
 "Readiness":{"type":"object","required":["status","dependencies"],"properties":{"status":{"type":"string","enum":["ready","not_ready","draining"],"description":"`draining` (503): the instance is stopping (SIGTERM) and still serves for drain-delay; the dependencies are not probed and listed empty."},
   "code":{"type":"string","enum":["not_ready"],"description":"On a 503 only."},
   "dependencies":{"type":"object","description":"Each dependency (`database`, `disk`, `vault`, `redis` when configured) and its state; never an error text (that is in the log).","additionalProperties":{"type":"string","enum":["up","down"]}}}},
}
# Pricing (issue 8 of the contract): tax rates, shipping options, discount codes.
PRICING_STEPUP="Needs a login from the last five minutes (401 `reauthentication_required`): every pricing change alters what customers pay."
PRICING_DESC=PRICING_STEPUP+" Every change is validated whole and audited in the same transaction; a price in a currency the shop does not sell answers 422 `currency_not_sold`. A change made from a stale read (another change landed between its read and its write) answers 409 `conflict`."
PPM={"type":"integer","format":"int64","minimum":0,"maximum":1000000,"description":"Parts per million: 19 % is 190000, 8.875 % is 88750."}
PLACE={"type":"object","required":["country"],"additionalProperties":False,"properties":{
  "country":{"type":"string","pattern":"^[A-Z]{2}$","description":"ISO 3166-1 alpha-2."},
  "region":{"type":"string","pattern":"^[A-Z0-9]{1,3}$","description":"The part after the hyphen of an ISO 3166-2 code (CA for US-CA); absent for the whole country."}}}
prices_of=lambda d: {"type":"array","maxItems":20,"items":ref("Money"),"description":d}
ids_of=lambda prefix: {"type":"array","maxItems":100,"uniqueItems":True,"items":{"type":"string","pattern":"^"+prefix}}
CODE={"type":"string","minLength":4,"maxLength":128,"description":"Case-insensitive; hyphens and spaces are ignored. Stored upper-case: 4 to 32 ASCII letters and digits."}
paths.update({
 "/api/v1/shipping-options":{"get":op("shippingOptionsFor","The active shipping options for a destination, with their prices only","public",
    {"200":js(ref("ShippingPriceList")),"422":resp("Unprocessable")},
    params=[{"name":"country","in":"query","required":True,"schema":{"type":"string","pattern":"^[A-Z]{2}$"}},
            {"name":"region","in":"query","schema":{"type":"string","pattern":"^[A-Z0-9]{1,3}$"}},
            {"name":"currency","in":"query","schema":{"type":"string","pattern":"^[A-Z]{3}$"},"description":"Only options priced in it; 422 `currency_not_sold` for one the shop does not sell."}],
    desc="Zones are not shown. At most 100 options are considered.")},
 "/api/v1/admin/tax-rates":{
    "get":op("listTaxRates","Tax rates, paginated","pricing:manage",{"200":js(ref("TaxRateList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},params=pagep),
    "post":op("createTaxRate","Create a tax rate for a country or one region of it","pricing:manage",{"201":js(ref("TaxRate"),"Created"),"409":resp("Conflict")},"CreateTaxRateRequest",
      desc="A second rate for the same country and region answers 409 `tax_rate_overlap`. A country's rate and its regions' rates add up for a destination in that region. "+PRICING_DESC)},
 "/api/v1/admin/tax-rates/{id}":{
    "patch":op("updateTaxRate","Change a tax rate","pricing:manage",{"200":js(ref("TaxRate")),"404":resp("NotFound"),"409":resp("Conflict")},"UpdateTaxRateRequest",params=[idp],desc=PRICING_DESC),
    "delete":op("deleteTaxRate","Delete a tax rate","pricing:manage",{"204":{"description":"Deleted."},"404":resp("NotFound")},params=[idp],desc=PRICING_STEPUP+" Audited.")},
 "/api/v1/admin/shipping-options":{
    "get":op("listShippingOptions","Shipping options, active or not, paginated","pricing:manage",{"200":js(ref("ShippingOptionList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},params=pagep),
    "post":op("createShippingOption","Create a shipping option for a zone","pricing:manage",{"201":js(ref("ShippingOption"),"Created"),"409":resp("Conflict")},"CreateShippingOptionRequest",desc=PRICING_DESC)},
 "/api/v1/admin/shipping-options/{id}":{
    "patch":op("updateShippingOption","Change a shipping option","pricing:manage",{"200":js(ref("ShippingOption")),"404":resp("NotFound"),"409":resp("Conflict")},"UpdateShippingOptionRequest",params=[idp],
      desc="The result is validated whole: changing `kind` needs the new kind's prices in the same request. "+PRICING_DESC),
    "delete":op("deleteShippingOption","Delete a shipping option","pricing:manage",{"204":{"description":"Deleted."},"404":resp("NotFound")},params=[idp],desc=PRICING_STEPUP+" Audited.")},
 "/api/v1/admin/discounts":{
    "get":op("listDiscounts","Discount codes with their use counts, paginated","pricing:manage",{"200":js(ref("DiscountList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},params=pagep,
      desc="No public route lists or looks up discount codes."),
    "post":op("createDiscount","Create a discount code","pricing:manage",{"201":js(ref("Discount"),"Created"),"409":resp("Conflict")},"CreateDiscountRequest",
      desc="A code in use answers 409 `discount_code_taken`; a percentage over 100 % (10000 basis points) 422. "+PRICING_DESC)},
 "/api/v1/admin/discounts/{id}":{
    "patch":op("updateDiscount","Change a discount code","pricing:manage",{"200":js(ref("Discount")),"404":resp("NotFound"),"409":resp("Conflict")},"UpdateDiscountRequest",params=[idp],
      desc="The use count is never patched. "+PRICING_DESC),
    "delete":op("deleteDiscount","Delete a discount code and its per-customer use counts","pricing:manage",{"204":{"description":"Deleted."},"404":resp("NotFound")},params=[idp],desc=PRICING_STEPUP+" Audited.")},
})
TS={"type":"string","format":"date-time"}
BAND={"type":"object","required":["min_grams","max_grams","prices"],"additionalProperties":False,"properties":{
  "min_grams":{"type":"integer","minimum":0,"description":"Inclusive."},"max_grams":{"type":"integer","maximum":1000000000,"description":"Exclusive; above min_grams."},
  "prices":prices_of("One per currency.")}}
SHIP_PROPS={"name":text(1,100),"zones":{"type":"array","minItems":1,"maxItems":250,"items":ref("Place")},
  "kind":{"type":"string","enum":["flat","weight_bands","free_above"]},
  "prices":prices_of("flat: the price; free_above: the price below the threshold; weight_bands: none."),
  "bands":{"type":"array","maxItems":50,"items":ref("WeightBand"),"description":"weight_bands only: ascending, not overlapping; a weight outside every band cannot ship."},
  "free_above":prices_of("free_above only: free when the subtotal after discount is at least this, per currency."),
  "active":{"type":"boolean","description":"Default true."}}
DISC_PROPS={"code":CODE,"kind":{"type":"string","enum":["percent","fixed","free_shipping"]},
  "basis_points":{"type":"integer","minimum":1,"maximum":10000,"description":"percent only: 1000 is 10 %."},
  "amounts":prices_of("fixed only: the amount off, per currency."),
  "starts_at":dict(TS,description="Inclusive; absent for no start."),"ends_at":dict(TS,description="Exclusive; absent for no end."),
  "min_subtotal":prices_of("The least subtotal before discount, per currency; with minimums but none in the cart's currency the code is not valid in it."),
  "max_uses":{"type":"integer","minimum":0,"maximum":1000000000,"description":"0: no limit."},
  "max_uses_per_customer":{"type":"integer","minimum":0,"maximum":1000000000,"description":"0: no limit."},
  "product_ids":ids_of("prod_"),"category_ids":ids_of("cat_"),"active":{"type":"boolean","description":"Default true."}}
schemas.update({
 "Place":PLACE,
 "WeightBand":BAND,
 "TaxRate":{"type":"object","required":["id","country","rate_ppm","name","created_at","updated_at"],"properties":{
   "id":{"type":"string","pattern":"^tax_"},"country":PLACE["properties"]["country"],"region":PLACE["properties"]["region"],
   "rate_ppm":PPM,"name":{"type":"string"},"created_at":TS,"updated_at":TS}},
 "TaxRateList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("TaxRate")},"next_cursor":{"type":"string","description":"Absent on the last page."}}},
 "CreateTaxRateRequest":{"type":"object","required":["country","rate_ppm","name"],"additionalProperties":False,"properties":{
   "country":PLACE["properties"]["country"],"region":PLACE["properties"]["region"],"rate_ppm":PPM,"name":text(1,100)}},
 "UpdateTaxRateRequest":{"type":"object","minProperties":1,"additionalProperties":False,"properties":{
   "country":PLACE["properties"]["country"],"region":{"type":"string","description":"Empty for the whole country."},"rate_ppm":PPM,"name":text(1,100)}},
 "ShippingPrice":{"type":"object","required":["id","name","kind","prices","bands","free_above"],"properties":{
   "id":{"type":"string","pattern":"^ship_"},"name":{"type":"string"},"kind":SHIP_PROPS["kind"],"prices":SHIP_PROPS["prices"],
   "bands":SHIP_PROPS["bands"],"free_above":SHIP_PROPS["free_above"]}},
 "ShippingPriceList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("ShippingPrice")}}},
 "ShippingOption":{"allOf":[ref("ShippingPrice"),{"type":"object","required":["zones","active","created_at","updated_at"],"properties":{
   "zones":SHIP_PROPS["zones"],"active":{"type":"boolean"},"created_at":TS,"updated_at":TS}}]},
 "ShippingOptionList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("ShippingOption")},"next_cursor":{"type":"string","description":"Absent on the last page."}}},
 "CreateShippingOptionRequest":{"type":"object","required":["name","zones","kind"],"additionalProperties":False,"properties":SHIP_PROPS},
 "UpdateShippingOptionRequest":{"type":"object","minProperties":1,"additionalProperties":False,"properties":SHIP_PROPS},
 "Discount":{"type":"object","required":["id","code","kind","amounts","min_subtotal","max_uses","max_uses_per_customer","product_ids","category_ids","active","uses","created_at","updated_at"],
   "properties":{**DISC_PROPS,"id":{"type":"string","pattern":"^disc_"},"code":{"type":"string","pattern":"^[ABCDEFGHJKLMNPQRSTUVWXYZ23456789]{4,32}$"},
   "uses":{"type":"integer","minimum":0,"description":"Orders that used the code."},"created_at":TS,"updated_at":TS}},
 "DiscountList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Discount")},"next_cursor":{"type":"string","description":"Absent on the last page."}}},
 "CreateDiscountRequest":{"type":"object","required":["code","kind"],"additionalProperties":False,"properties":DISC_PROPS},
 "UpdateDiscountRequest":{"type":"object","minProperties":1,"additionalProperties":False,"properties":DISC_PROPS},
})
# Webhooks (issue 13).
WEBHOOK_STEPUP="Needs a login in the last five minutes (401 `reauthentication_required`); audited."
EVENTS=["order.created","order.authorized","order.paid","order.fulfilled","order.cancelled","refund.created","return.requested","product.updated","finding.raised","audit.checkpoint"]
paths.update({
 "/api/v1/admin/webhooks":{
    "get":op("listWebhooks","Webhook endpoints (never their secrets)","webhooks:manage",{"200":js(ref("WebhookList"))}),
    "post":op("createWebhook","Register a webhook endpoint; the answer holds its signing secret, shown this once","webhooks:manage",
      {"201":js(ref("Webhook"),"Created; `secret` is in this answer and no other"),"422":resp("Unprocessable")},"CreateWebhookRequest",
      desc="The URL must be https (plain http only to a host in the egress-allow setting) and its host must resolve to public addresses only: loopback, private, link-local (cloud metadata), carrier-grade NAT, multicast and other internal addresses answer 422 `webhook_url_refused`; every delivery is checked again when it connects. Deliveries follow Standard Webhooks: headers `webhook-id` (the event id, the same on every retry), `webhook-timestamp` (Unix seconds of the attempt) and `webhook-signature` (`v1,` and the base64 HMAC-SHA256, under the secret's base64-decoded key after `whsec_`, of `id.timestamp.body`). "+WEBHOOK_STEPUP)},
 "/api/v1/admin/webhooks/{id}":{"delete":op("deleteWebhook","Delete a webhook endpoint: its secrets are deleted and its pending deliveries cancelled","webhooks:manage",
    {"204":{"description":"Deleted."},"404":resp("NotFound")},params=[idp],desc=WEBHOOK_STEPUP)},
 "/api/v1/admin/webhooks/{id}/rotate-secret":{"post":op("rotateWebhookSecret","Give an endpoint a new signing secret, shown this once; the old one signs beside it for 24 hours","webhooks:manage",
    {"200":js(ref("RotatedSecret")),"404":resp("NotFound")},params=[idp],
    desc="During the grace `webhook-signature` holds both signatures, space-separated, the new one first. "+WEBHOOK_STEPUP)},
 "/api/v1/admin/webhooks/{id}/deliveries":{"get":op("listWebhookDeliveries","An endpoint's deliveries, newest first, with every attempt","webhooks:manage",
    {"200":js(ref("WebhookDeliveryList")),"404":resp("NotFound"),"422":resp("Unprocessable")},
    params=[idp,{"name":"status","in":"query","schema":{"type":"string","enum":["pending","succeeded","dead","cancelled"]},"description":"`dead`: the dead letters (the retry schedule ran out)."},
            {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":20}}])},
 "/api/v1/admin/webhook-deliveries/{id}/retry":{"post":op("retryWebhookDelivery","Send a delivery again now, with the same webhook-id and body","webhooks:manage",
    {"202":js(ref("WebhookDelivery"),"Queued: the delivery is pending, due now"),"404":resp("NotFound"),"409":resp("Conflict")},params=[idp],
    desc="For a dead letter, or a delivery that succeeded and the receiver lost. A delivery already pending answers 409 `webhook_delivery_pending`; one whose endpoint was deleted 404. A failed manual retry is dead again at once. "+WEBHOOK_STEPUP)},
})
schemas.update({
 "CreateWebhookRequest":{"type":"object","required":["url","events"],"additionalProperties":False,"properties":{
   "url":{"type":"string","maxLength":2048,"format":"uri"},
   "events":{"type":"array","minItems":1,"maxItems":32,"items":{"type":"string","enum":EVENTS},
     "description":"Sent today: order.created, order.authorized, order.paid, order.fulfilled, order.cancelled, refund.created, return.requested, product.updated, finding.raised (a finding raised at or above the alert-severity setting: id, type, severity, subject_kind, subject_id, first_seen, count, detection_point, evidence), audit.checkpoint (the audit log signed a checkpoint: size, root, the signed note, signed_at). The others may be subscribed to and are sent once the shop has the transitions they report."}}},
 "Webhook":{"type":"object","required":["id","url","events","created_at"],"properties":{
   "id":{"type":"string","pattern":"^wh_"},"url":{"type":"string"},"events":{"type":"array","items":{"type":"string","enum":EVENTS}},"created_at":TS,
   "secret":{"type":"string","pattern":"^whsec_","description":"Only in the answer to the creation."}}},
 "WebhookList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Webhook")}}},
 "RotatedSecret":{"type":"object","required":["secret","previous_signs_until"],"properties":{
   "secret":{"type":"string","pattern":"^whsec_"},"previous_signs_until":TS}},
 "WebhookAttempt":{"type":"object","required":["n","at","status_code","duration_ms"],"properties":{
   "n":{"type":"integer","minimum":1},"at":TS,"status_code":{"type":"integer","description":"0 when no answer came (connection refused by the egress guard or the receiver, timeout)."},
   "duration_ms":{"type":"integer","minimum":0},"error":{"type":"string"}}},
 "WebhookDelivery":{"type":"object","required":["id","event_id","event_type","webhook_id","status","attempts","created_at","updated_at","history"],"properties":{
   "id":{"type":"string","pattern":"^whd_"},"event_id":{"type":"string","pattern":"^msg_","description":"The webhook-id header."},
   "event_type":{"type":"string","enum":EVENTS},"webhook_id":{"type":"string","pattern":"^wh_"},
   "status":{"type":"string","enum":["pending","succeeded","dead","cancelled"]},"attempts":{"type":"integer","minimum":0},
   "next_attempt_at":dict(TS,description="Pending deliveries only."),"last_status_code":{"type":"integer"},"last_error":{"type":"string"},
   "created_at":TS,"updated_at":TS,"history":{"type":"array","items":ref("WebhookAttempt")}}},
 "WebhookDeliveryList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("WebhookDelivery")}}},
})
MAIL_NAMES=["confirmation","shipment","cancellation","refund","return"]
namep={"name":"name","in":"path","required":True,"schema":{"type":"string","enum":MAIL_NAMES},
  "description":"The mail: confirmation (order.created), shipment (order.fulfilled), cancellation (order.cancelled), refund (refund.created), return (return.requested)."}
MAIL_FIELDS=("Fields of the data a template may name: OrderNumber, OrderURL (public-url/orders/<number>), ShopURL, CustomerName, Status, Currency, "
  "Lines (each Name, SKU, Quantity, UnitPrice, Total), Subtotal, HasDiscount, Discount, DiscountCode, Shipping, ShippingMethod, Tax, TaxIncluded, Total, "
  "Refunded, RefundAmount, Carrier, TrackingNumber; amounts are text such as `12.50 EUR`. Functions: and, or, not, len, index, eq, ne, lt, le, gt, ge; "
  "`range` over .Lines only, not nested; no define, block or template. See docs/API.md.")
paths.update({
 "/api/v1/admin/mail-templates":{
    "get":op("listMailTemplates","The templates of the five order mails in use: the shop's where it changed one, the default otherwise","mail:manage",
      {"200":js(ref("MailTemplateList"))},desc=MAIL_FIELDS)},
 "/api/v1/admin/mail-templates/{name}":{
    "put":op("putMailTemplate","Change an order mail's subject and body (Go text/template, plain text)","mail:manage",
      {"200":js(ref("MailTemplate")),"404":resp("NotFound"),"422":resp("Unprocessable")},"PutMailTemplateRequest",params=[namep],
      desc="The template is parsed, checked and rendered on sample data (the largest order a cart makes among them) before it is stored: a subject with a line break, "
        "an unknown field or function, a range over anything but .Lines, a nested range, define/template, a rendering above 998 bytes of subject or 256 KiB of body, "
        "or any template error answers 422 `validation_failed` with the error in `errors`, and nothing changes. "+MAIL_FIELDS+" "+WEBHOOK_STEPUP),
    "delete":op("resetMailTemplate","Put an order mail's default template back","mail:manage",
      {"204":{"description":"The default is in use."},"404":resp("NotFound")},params=[namep],desc=WEBHOOK_STEPUP)},
})
schemas.update({
 "PutMailTemplateRequest":{"type":"object","required":["subject","body"],"additionalProperties":False,"properties":{
   "subject":{"type":"string","minLength":1,"maxLength":512,"description":"One line: no CR or LF."},
   "body":{"type":"string","minLength":1,"maxLength":16384}}},
 "MailTemplate":{"type":"object","required":["name","subject","body","custom","updated_at"],"properties":{
   "name":{"type":"string","enum":MAIL_NAMES},"subject":{"type":"string"},"body":{"type":"string"},
   "custom":{"type":"boolean","description":"true for a template the shop changed, false for the default."},
   "updated_at":{"oneOf":[TS,{"type":"null"}],"description":"When the shop changed it; null for the default."}}},
 "MailTemplateList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("MailTemplate")}}},
})
# Threat findings (issue 14).
FINDING_TYPES=["CredentialAccess:Account/BruteForce","CredentialAccess:Ip/CredentialStuffing","Fraud:Card/CardTesting","Recon:Ip/Scanning","Recon:Ip/WafProbe","Impact:Account/TakeoverSuspected"]
FINDING_STEPUP="Needs a login in the last five minutes (401 `reauthentication_required`). Idempotent: setting the status a finding has answers it unchanged and records nothing; a change is audited (`finding.resolve`, `finding.suppress`, with the actor and the status before)."
paths.update({
 "/api/v1/admin/findings":{"get":op("listFindings","Threat findings, newest first (by first sighting)","findings:read",
    {"200":js(ref("FindingList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},
    params=[{"name":"status","in":"query","schema":{"type":"string","enum":["active","resolved","suppressed"]}},
            {"name":"type","in":"query","schema":{"type":"string","enum":FINDING_TYPES}},
            {"name":"severity_min","in":"query","schema":{"type":"string"},"description":"0 to 100, or a level: `low` (0), `medium` (40), `high` (70), `critical` (90)."},
            {"name":"subject","in":"query","schema":{"type":"string","maxLength":200},"description":"`kind:id` (`ip:192.0.2.1`, `account:usr_...`, `card:...`), or an id alone (any kind). An IPv6 client is counted by its /64 (`ip:2001:db8::/64`)."},
            {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":50}},
            {"name":"cursor","in":"query","schema":{"type":"string"},"description":"`next_cursor` of the previous page."}],
    desc="A filter value that is not one of these answers 422 `validation_failed` naming it; a cursor this server did not give, 400 `invalid_cursor`.")},
 "/api/v1/admin/findings/{id}":{"get":op("getFinding","One threat finding with its evidence","findings:read",
    {"200":js(ref("Finding")),"404":resp("NotFound")},params=[idp])},
 "/api/v1/admin/findings/{id}/resolve":{"post":op("resolveFinding","Resolve a finding: dealt with; a recurrence raises a new finding","findings:manage",
    {"200":js(ref("Finding")),"404":resp("NotFound")},params=[idp],desc="An active or suppressed finding. "+FINDING_STEPUP)},
 "/api/v1/admin/findings/{id}/suppress":{"post":op("suppressFinding","Suppress a finding as known benign: recurrences are counted on it silently","findings:manage",
    {"200":js(ref("Finding")),"404":resp("NotFound"),"409":resp("Conflict")},params=[idp],desc="An active finding; a resolved one answers 409 `illegal_transition`. "+FINDING_STEPUP)},
})
schemas.update({
 "Finding":{"type":"object","required":["id","type","severity","status","subject","first_seen","last_seen","count","evidence","response","detection_point"],"properties":{
   "id":{"type":"string","pattern":"^fnd_"},"type":{"type":"string","enum":FINDING_TYPES,"description":"GuardDuty-style ThreatPurpose:Resource/Name."},
   "severity":{"type":"integer","minimum":0,"maximum":100,"description":"Levels: low 0-39, medium 40-69, high 70-89, critical 90-100."},
   "status":{"type":"string","enum":["active","resolved","suppressed"]},
   "subject":{"type":"object","required":["kind","id"],"properties":{"kind":{"type":"string","enum":["ip","account","card"]},"id":{"type":"string","description":"An address (an IPv6 client's /64), an account id, or a card fingerprint (an HMAC, never the number)."}}},
   "first_seen":TS,"last_seen":TS,"count":{"type":"integer","minimum":1,"description":"Observations: signals at or past the detector's threshold."},
   "evidence":{"type":"object","additionalProperties":{"type":"string"},"description":"What the detector counted (count, threshold, window, signal) and the last signal's detail (rule ids, a path, why a sign-in failed); never a secret."},
   "response":{"type":"string","description":"What Bulwark did about it, set by the response policy a moment after the finding is raised: `log`, `delay 1h0m0s (repeat 1)`, `step-up (intent recorded)`, `hold-orders (intent recorded)`, `block-ip 15m0s (repeat 1)`, `block-card 24h0m0s (repeat 1)`, `lock-account …`, or `log (not acted on: …)` for a cross-site signal, an exempt address or a suppressed finding. See docs/OPERATIONS.md."},
   "detection_point":{"type":"string","description":"The OWASP AppSensor detection point (AE3, AE12, ACE3, CIE1), or empty when none fits."}}},
 "FindingList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("Finding")},"next_cursor":{"type":"string","description":"Absent on the last page."}}},
})
# The audit log (issue 15, "Assurance").
AUDIT_READ="The read is itself recorded in the audit log (`audit.read`, `audit.read_checkpoint`, `audit.read_proof`, `audit.read_consistency`)."
B64H={"type":"string","contentEncoding":"base64","description":"A SHA-256 hash, base64 (as in checkpoints)."}
SIZEP=lambda name,desc: {"name":name,"in":"query","schema":{"type":"integer","minimum":1},"description":desc}
paths.update({
 "/api/v1/admin/audit":{"get":op("listAudit","Audit records, oldest first","audit:read",
    {"200":js(ref("AuditRecordList")),"400":resp("BadRequest"),"422":resp("Unprocessable")},
    params=[{"name":"actor","in":"query","schema":{"type":"string","maxLength":200},"description":"An account id, `system` or `anonymous`."},
            {"name":"action","in":"query","schema":{"type":"string","maxLength":200},"description":"Such as `user.login` or `order.checkout`."},
            {"name":"target","in":"query","schema":{"type":"string","maxLength":200}},
            {"name":"since","in":"query","schema":{"type":"string","format":"date-time"},"description":"Records at or after this time."},
            {"name":"until","in":"query","schema":{"type":"string","format":"date-time"},"description":"Records before this time."},
            {"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":100,"default":50}},
            {"name":"cursor","in":"query","schema":{"type":"string"},"description":"`next_cursor` of the previous page."}],
    desc="Exact matches on actor, action and target. A filter that is not valid answers 422 `validation_failed` naming it; a cursor this server did not give, 400 `invalid_cursor`. "+AUDIT_READ)},
 "/api/v1/admin/audit/checkpoint":{"get":op("getAuditCheckpoint","The latest signed checkpoint of the audit log","audit:read",
    {"200":{"description":"The checkpoint as a C2SP signed note (tlog-checkpoint: origin, size, base64 root; an Ed25519 signature line). Verify it with the verifier key `bulwark audit checkpoint` prints.","content":{"text/plain":{"schema":{"type":"string"}}}},"404":resp("NotFound")},
    desc="404 until the first checkpoint is signed (within a second of the first start). "+AUDIT_READ)},
 "/api/v1/admin/audit/records/{seq}/proof":{"get":op("getAuditProof","A record with the proof that it is in the audit log","audit:read",
    {"200":js(ref("AuditProof")),"404":resp("NotFound"),"422":resp("Unprocessable")},
    params=[{"name":"seq","in":"path","required":True,"schema":{"type":"integer","minimum":1}},
            SIZEP("size","The tree size to prove inclusion in; absent: the latest checkpoint's. At most the records integrated so far.")],
    desc="An RFC 6962 inclusion proof: the leaf is SHA-256(0x00 || the record's hash as 32 bytes), its index `seq - 1`. "+AUDIT_READ)},
 "/api/v1/admin/audit/consistency":{"get":op("getAuditConsistency","The proof that one size of the audit log extends another","audit:read",
    {"200":js(ref("AuditConsistency")),"404":resp("NotFound"),"422":resp("Unprocessable")},
    params=[SIZEP("from","The earlier tree size (required)."),SIZEP("to","The later tree size; absent: the latest checkpoint's.")],
    desc="An RFC 6962 consistency proof between the two sizes, with both roots and, where signed, their checkpoints. "+AUDIT_READ)},
})
schemas.update({
 "AuditRecord":{"type":"object","required":["seq","time","actor","action","target","outcome","ip","request_id","detail","prev_hash","hash"],"properties":{
   "seq":{"type":"integer","minimum":1},"time":{"type":"string","format":"date-time","description":"UTC with six fractional digits: the record's hash covers its microseconds."},
   "actor":{"type":"string"},"action":{"type":"string"},"target":{"type":"string"},"outcome":{"type":"string","enum":["success","failure"]},
   "ip":{"type":"string"},"request_id":{"type":"string"},"detail":{"type":"string"},
   "prev_hash":{"type":"string","description":"Hex SHA-256 of the record before (64 zeros for the first)."},
   "hash":{"type":"string","description":"Hex SHA-256 of the record's canonical JSON (docs/API.md, \"The audit log\")."}}},
 "AuditRecordList":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":ref("AuditRecord")},"next_cursor":{"type":"string","description":"Absent on the last page."}}},
 "AuditProof":{"type":"object","required":["record","leaf_index","tree_size","proof","root","checkpoint"],"properties":{
   "record":ref("AuditRecord"),"leaf_index":{"type":"integer","minimum":0},"tree_size":{"type":"integer","minimum":1},
   "proof":{"type":"array","items":B64H},"root":B64H,
   "checkpoint":{"type":["string","null"],"description":"The signed checkpoint of `tree_size`, when one was signed at that size."}}},
 "AuditConsistency":{"type":"object","required":["from","to","proof","from_root","to_root","from_checkpoint","to_checkpoint"],"properties":{
   "from":{"type":"integer","minimum":1},"to":{"type":"integer","minimum":1},"proof":{"type":"array","items":B64H},"from_root":B64H,"to_root":B64H,
   "from_checkpoint":{"type":["string","null"]},"to_checkpoint":{"type":["string","null"]}}},
})
paths.update({
 "/api/v1/admin/posture":{"get":op("getPosture","The latest run of the posture checks, with the process's listeners","assurance:read",
    {"200":js(ref("Posture"))},
    desc="The newest run of the compliance checks (any instance's; each runs them every `posture-interval`), scored per standard as Security Hub does: passed ÷ applicable, where a check without data does not apply. When no run exists yet the checks run now. Each check maps to PCI DSS v4.0.1 and OWASP ASVS 5.0 requirements; a failing one is also a `Policy:Posture/CheckFailed` finding.")},
 "/api/v1/admin/posture/history":{"get":op("getPostureHistory","The scores of past posture runs, newest first","assurance:read",
    {"200":js(ref("PostureHistory")),"422":resp("Unprocessable")},
    params=[{"name":"limit","in":"query","schema":{"type":"integer","minimum":1,"maximum":1000},"description":"Runs to return (default 100)."}],
    desc="A drop in a standard's score from one run to the next raises a `Policy:Posture/ScoreDropped` finding (severity 70: it alerts at the default alert-severity).")},
})
paths.update({
 "/api/v1/admin/discovery":{"get":op("getDiscovery","The last sensitive-data discovery run","assurance:read",
    {"200":js(ref("Discovery")),"404":resp("NotFound")},
    desc="Where the last run (scheduled every `discovery-interval`, or `bulwark discover`) found card numbers, private keys, API secrets, IBANs, email addresses and phone numbers: per location (`db:table.column` or `file:path`) and kind, the count and at most 15 masked samples (a card's first six and last four digits at most; never a value found). 404 before the first run. Card numbers (other than published test numbers) raise `SensitiveData:Location/CardNumber` findings, keys and secrets `SensitiveData:Location/Credentials`.")},
})
paths.update({
 "/api/v1/admin/fim":{"get":op("getFIM","The monitored files compared with the signed baseline now","assurance:read",
    {"200":js(ref("FIM"))},
    desc="File integrity monitoring (PCI DSS 11.5.2): `status` is `ok`, `changed`, `no_baseline` (make one with `bulwark fim baseline`) or `invalid` (the baseline does not verify: edited or another shop's). Changes name kinds, modes, sizes and hash prefixes, never content.")},
 "/api/v1/admin/staff":{"get":op("listStaff","The accounts that hold a staff role","roles:manage",
    {"200":js({"type":"object","required":["items"],"properties":{"items":{"type":"array","items":{"type":"object",
       "required":["id","roles","mfa","last_active_at"],"properties":{"id":{"type":"string"},"roles":{"type":"array","items":{"type":"string"}},
       "mfa":{"type":"boolean"},"last_active_at":{"type":"string","format":"date-time"}}}}}})},
    desc="Every account holding a role beyond customer (issue 17, the console's users page), ordered by id: its roles, whether it has a second factor (a confirmed TOTP or a passkey) and its last activity (its newest session's last use, or its creation). Ids, not emails: `POST /api/v1/admin/users/{id}/roles` takes the id. The posture probe's transient accounts are not listed.")},
 "/api/v1/admin/keys":{"get":op("getKeyStatus","The key hierarchy: the key-encryption key and each data keyset's keys, ages and re-encryption","assurance:read",
    {"200":js({"type":"object","required":["kek","keysets"],"properties":{
       "kek":{"type":"object","required":["source","versions","rotation_pending"],"properties":{
          "source":{"type":"string"},"created_at":{"type":"string","format":"date-time"},"versions":{"type":"integer"},"rotation_pending":{"type":"boolean"}}},
       "keysets":{"type":"array","items":{"type":"object","required":["name","keys","primary_id","wrapped","written_at","key_list","reencryption"],"properties":{
          "name":{"type":"string"},"keys":{"type":"integer"},"primary_id":{"type":"integer"},"wrapped":{"type":"boolean"},
          "written_at":{"type":"string","format":"date-time"},
          "key_list":{"type":"array","items":{"type":"object","required":["id","role"],"properties":{
             "id":{"type":"integer"},"role":{"type":"string","enum":["primary","decrypt_only","disabled"]},"created_at":{"type":"string","format":"date-time"}}}},
          "reencryption":{"type":"string"}}}}}})},
    desc="What `bulwark keys status` prints, for the console (issue 17): where the KEK comes from and since when (`created_at` absent when it is kept outside Bulwark, as in an HSM), whether a KEK rotation is unfinished; for each data keyset its keys newest first with their role and age, whether the file is encrypted under the KEK, and the re-encryption after the last rotation, in a sentence (no pass yet, pending, in progress or done). No key material. Rotation stays a command (`bulwark keys rotate`, `rotate-kek`), audited.")},
 "/api/v1/admin/backups":{"get":op("getBackups","The backups on the targets and the latest restore drills","assurance:read",
    {"200":js({"type":"object","required":["configured","targets","backups","last_drill","last_successful_drill"],"properties":{
       "configured":{"type":"boolean"},"targets":{"type":"array","items":{"type":"string"}},
       "backups":{"type":"array","items":{"type":"object","required":["id","created_at","size","payload_size","checkpoint","targets"],"properties":{
          "id":{"type":"string"},"created_at":{"type":"string","format":"date-time"},"size":{"type":"integer"},"payload_size":{"type":"integer"},
          "checkpoint":{"type":["object","null"],"properties":{"size":{"type":"integer"},"root":{"type":"string","format":"byte"}}},
          "targets":{"type":"array","items":{"type":"object","required":["target"],"properties":{"target":{"type":"string"},"error":{"type":"string"}}}}}}},
       "last_drill":{"oneOf":[{"type":"null"},{"$ref":"#/components/schemas/Drill"}]},
       "last_successful_drill":{"oneOf":[{"type":"null"},{"$ref":"#/components/schemas/Drill"}]}}})},
    desc="Backups (issue 16): each backup found on the `backup-targets`, newest first, with the targets holding it (a copy whose signed manifest does not verify names why), and the latest drill and latest successful drill with their recovery point and recovery time. Lists the targets on each call.")},
})
DRILL={"type":"object","required":["id","at","ok","recovery_time_ms","rows","audit_records"],"properties":{
   "id":{"type":"string"},"at":{"type":"string","format":"date-time"},"ok":{"type":"boolean"},"error":{"type":"string"},
   "backup_id":{"type":"string"},"target":{"type":"string"},"recovery_point":{"type":"string","format":"date-time"},
   "recovery_time_ms":{"type":"integer"},"rows":{"type":"integer"},"audit_records":{"type":"integer"}}}
POSTURE_SCORE={"type":"object","required":["id","score","passed","applicable"],"properties":{
   "id":{"type":"string","enum":["pci-dss-4.0.1","owasp-asvs-5.0"]},"score":{"type":"number","minimum":0,"maximum":1},
   "passed":{"type":"integer","minimum":0},"applicable":{"type":"integer","minimum":0}}}
schemas.update({
 "Drill":DRILL,
 "PostureScore":POSTURE_SCORE,
 "FIM":{"type":"object","required":["status","baseline","made_at","entries","checked_at","changes"],"properties":{
   "status":{"type":"string","enum":["ok","changed","no_baseline","invalid"]},"baseline":{"type":"string"},
   "made_at":{"type":["string","null"],"format":"date-time"},"entries":{"type":"integer","minimum":0},"checked_at":{"type":"string","format":"date-time"},
   "error":{"type":"string"},
   "changes":{"type":"array","items":{"type":"object","required":["path","kind","before","after"],"properties":{
     "path":{"type":"string"},"kind":{"type":"string","enum":["added","deleted","modified","mode","owner"]},"before":{"type":"string"},"after":{"type":"string"}}}}}},
 "Discovery":{"type":"object","required":["run_at","sources","bytes","truncated","findings","errors"],"properties":{
   "run_at":{"type":"string","format":"date-time"},"sources":{"type":"array","items":{"type":"string"}},
   "bytes":{"type":"integer","minimum":0},"truncated":{"type":"boolean","description":"The run stopped at its byte limit (4 GiB): what follows was not read."},
   "errors":{"type":"array","items":{"type":"string"},"description":"What could not be read (never its content)."},
   "findings":{"type":"array","items":{"type":"object","required":["location","kind","count","samples","severity"],"properties":{
     "location":{"type":"string"},"kind":{"type":"string","enum":["card_number","private_key","secret","iban","email","phone"]},
     "count":{"type":"integer","minimum":1},"test_only":{"type":"boolean","description":"Every card number found is a published test number."},
     "severity":{"type":"integer","minimum":0,"maximum":100},
     "samples":{"type":"array","maxItems":15,"items":{"type":"object","required":["offset","masked"],"properties":{
       "row":{"type":"string","description":"The row's id in a table."},"offset":{"type":"integer","minimum":0},"masked":{"type":"string"},"test":{"type":"boolean"}}}}}}}}},
 "PostureCheck":{"type":"object","required":["id","title","status","severity","maps_to","remedy","detail"],"properties":{
   "id":{"type":"string"},"title":{"type":"string"},"status":{"type":"string","enum":["pass","fail","no_data"]},
   "severity":{"type":"integer","minimum":0,"maximum":100},"maps_to":{"type":"array","items":{"type":"string"},"description":"Requirement ids: `PCI 8.4.2`, `ASVS 6.3.3`."},
   "remedy":{"type":"string","description":"The setting or command that fixes a failure."},"detail":{"type":"string","description":"What the probe saw (never a secret)."}}},
 "PostureListener":{"type":"object","required":["name","addr","tls","serves"],"properties":{
   "name":{"type":"string"},"addr":{"type":"string"},"tls":{"type":"boolean"},"serves":{"type":"string"},"redirect_only":{"type":"boolean"}}},
 "Posture":{"type":"object","required":["run_at","standards","checks","listeners"],"properties":{
   "run_at":{"type":"string","format":"date-time"},"standards":{"type":"array","items":ref("PostureScore")},
   "checks":{"type":"array","items":ref("PostureCheck")},"listeners":{"type":"array","items":ref("PostureListener")}}},
 "PostureHistory":{"type":"object","required":["items"],"properties":{"items":{"type":"array","items":{"type":"object","required":["run_at","standards","failed"],"properties":{
   "run_at":{"type":"string","format":"date-time"},"standards":{"type":"array","items":ref("PostureScore")},"failed":{"type":"integer","minimum":0}}}}}},
})
def prob(desc,codes):
    return {"description":desc+" Codes: "+", ".join("`"+c+"`" for c in codes)+".","content":{"application/problem+json":{"schema":ref("Problem")}}}
responses={
 "BadRequest":prob("Malformed request: bad JSON, unknown field (or a field's name in other case), duplicate key, null for a field, wrong type, trailing data, invalid UTF-8, bad cursor.",["invalid_json","invalid_cursor","idempotency_key_required","invalid_reset_token","invalid_verification_token","ambiguous_framing"]),
 "Unauthorized":prob("No valid session, or wrong credentials.",["unauthenticated","invalid_credentials","mfa_required","invalid_otp","reauthentication_required","passkey_failed","oidc_failed","invalid_mfa_ticket"]),
 "Forbidden":prob("The caller's roles lack the permission, a staff account has no second factor yet, or a browser sent a cross-origin write (or, to a staff route, any cross-site request with the session cookie).",["forbidden","mfa_enrollment_required","cross_origin_rejected","enrollment_code_required","invalid_enrollment_code"]),
 "NotFound":prob("No such resource, or one that belongs to someone else.",["not_found"]),
 "Conflict":prob("The request conflicts with the current state.",["conflict","email_taken","sku_taken","insufficient_stock","cannot_demote_self","out_of_stock","request_in_progress","checkout_in_progress","refund_exceeds_capture","illegal_transition","fulfillment_exceeds_order","return_exceeds_shipped","return_window_closed","tax_rate_overlap","discount_code_taken","discount_exhausted","price_changed"]),
 "PayloadTooLarge":prob("The body is larger than the route takes: none on GET, 4 KiB on the auth routes, 8 KiB on other writes, max-body-bytes (1 MiB by default) on catalog writes. A body over 4 KiB is read only from a caller who authenticated with the route's permission (401 otherwise).",["payload_too_large"]),
 "UnsupportedMediaType":prob("The body is not application/json in UTF-8.",["unsupported_media_type"]),
 "Unprocessable":prob("Well-formed but invalid; `errors` names the fields.",["validation_failed","weak_password","idempotency_key_reused","cart_empty","oidc_email_unverified","discount_invalid","shipping_unavailable","currency_not_sold"]),
 "Conflict":prob("The request conflicts with the current state.",["conflict","email_taken","sku_taken","insufficient_stock","variant_options_taken","slug_taken","category_cycle","category_has_children","cannot_demote_self","out_of_stock","request_in_progress","checkout_in_progress","refund_exceeds_capture","illegal_transition","fulfillment_exceeds_order","return_exceeds_shipped","return_window_closed","webhook_delivery_pending"]),
 "Unprocessable":prob("Well-formed but invalid; `errors` names the fields.",["validation_failed","weak_password","idempotency_key_reused","cart_empty","oidc_email_unverified","currency_not_sold","not_priced_in_currency","variant_required","too_many_variants","not_single_variant","category_too_deep","webhook_url_refused"]),
 "PaymentRequired":prob("The card was declined; the stock was released and no order was made.",["payment_declined"]),
 "NotReady":prob("A dependency does not answer.",["not_ready"]),
 "TooManyRequests":dict(prob("A rate limit (per client address, per account for checkout and admin, per route class) or a login lockout refused the request; retry after Retry-After seconds.",["rate_limited","too_many_attempts"]),
   headers={"Retry-After":{"description":"Whole seconds to wait, at least 1.","schema":{"type":"integer","minimum":1}},
    "RateLimit-Policy":{"description":"draft-ietf-httpapi-ratelimit-headers-11: each limit that applied, as `\"auth\";q=20;w=60` (q requests per w seconds).","schema":{"type":"string"}},
    "RateLimit":{"description":"draft-ietf-httpapi-ratelimit-headers-11: per limit, r requests remaining and t seconds until the quota is whole (on a refusal: until the next request may go), as `\"auth\";r=0;t=3`. Allowed answers of limited routes carry both headers too.","schema":{"type":"string"}}}),
 "Internal":prob("The server failed; the answer names only the request id.",["internal_error"]),
 "Overloaded":dict(prob("The server is at capacity (`max-in-flight` requests being served, or every password-hash worker busy and its queue full; code `overloaded`), or a dependency it cannot serve without (the database, the disk, the card vault) is out (code `unavailable`); retry after Retry-After seconds. An outage is never a 500.",["overloaded","unavailable"]),
   headers={"Retry-After":{"description":"Whole seconds to wait, at least 1.","schema":{"type":"integer","minimum":1}}}),
}
doc={"openapi":"3.1.0",
 "info":{"title":"Bulwark API","version":"1.0.0","description":"Bulwark's HTTP contract (v1). Requests and responses are JSON in UTF-8; decoding is strict (unknown fields, keys not spelled exactly as the field's name (case included), duplicate keys, null for any field, trailing data and wrong types answer 400: leave an optional field out rather than sending null). Every request: a request target over 4 KiB answers 414 `uri_too_long`, a header field over 8 KiB 431 `header_too_large`, a request with both Content-Length and Transfer-Encoding 400 `ambiguous_framing` (and the connection is closed). Errors are RFC 9457 application/problem+json with a stable `code`. Every response carries X-Request-Id. IDs are opaque prefixed strings; money is integer minor units. Times in answers are RFC 3339 in UTC with exactly three fractional digits (2026-12-01T23:22:22.261Z), the same on create and read."},
 "servers":[{"url":"/"}],
 "paths":paths,
 "components":{"securitySchemes":{"bearerAuth":{"type":"http","scheme":"bearer","description":"The `token` from login (bws_...)."},
   "sessionCookie":{"type":"apiKey","in":"cookie","name":"__Host-bulwark_session","description":"Browsers; unsafe requests must be same-origin."},
   "cartToken":{"type":"apiKey","in":"header","name":"Cart-Token","description":"A guest cart's token (guest checkout, when on): reaches that one cart through the cart routes and its guest checkout, nothing else."}},
   "schemas":schemas,"responses":responses}}
# Bodies that may be left out altogether (a bodyless POST).
for path,schema in (("/api/v1/me/mfa/totp","EnrollmentRequest"),("/api/v1/me/passkeys/begin","EnrollmentRequest"),("/api/v1/carts","CreateCartRequest"),("/api/v1/guest/carts","CreateCartRequest")):
    o=paths[path]["post"]
    o["requestBody"]={"required":False,"content":{"application/json":{"schema":ref(schema)}}}
    o["responses"].update(BODY_ERRS)
    o["responses"]=dict(sorted(o["responses"].items()))
# The cart routes a guest reaches with its cart's token.
for path in ("/api/v1/carts/{id}","/api/v1/carts/{id}/items/{item_id}","/api/v1/carts/{id}/discount","/api/v1/carts/{id}/shipping"):
    for o in paths[path].values():
        o["security"]=AUTH+[{"cartToken":[]}]
print(json.dumps(doc,indent=2))
