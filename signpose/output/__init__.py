"""What the stage leaves behind: atomic files, the ledger of outcomes, and a full disk handled."""
