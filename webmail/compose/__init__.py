"""Writing mail: pure functions from what the user typed to the bytes that go out.

Nothing here talks to a server or knows about requests: views turn form data into a
`Draft` (draft.py), `message_build` turns that into RFC 5322 bytes (build.py), and
`webmail.protocols.smtp.smtp_send` sends them. reply.py pre-fills replies and forwards,
reopen.py reads a saved draft back.
"""
