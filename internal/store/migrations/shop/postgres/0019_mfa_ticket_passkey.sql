-- A login holding an MFA ticket may finish with a passkey (issue 11): the
-- challenge of the assertion begun for the ticket is kept with the ticket
-- (go-webauthn's session, as JSON; '' until one is begun), so it belongs to
-- that ticket alone and is spent with it.
ALTER TABLE mfa_tickets ADD COLUMN passkey_session TEXT NOT NULL DEFAULT '';
