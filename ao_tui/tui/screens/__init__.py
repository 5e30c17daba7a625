"""Modal screens: help, confirmations, forms and pickers."""
