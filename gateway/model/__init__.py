"""The canonical model: reference records (README §5), identifier checks (§7), cross-field rules (§10 step 9)."""
