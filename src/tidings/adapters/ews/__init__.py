"""Exchange Server through Exchange Web Services, with exchangelib: a folder's sync state as
the cursor (``EwsFolderSession``), sending with CreateItem (``EwsSender``) and Test & Enable's
checks (``EwsTester``). exchangelib is synchronous; every call runs in a thread."""
