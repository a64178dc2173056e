"""Exchange Online through Microsoft Graph: app-only tokens from the Microsoft identity
platform (MSAL), folders followed by delta query, mail sent as MIME through sendMail."""
