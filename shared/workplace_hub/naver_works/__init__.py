"""NAVER WORKS: service-account auth, the bot sender (2.0 and legacy 1.0), the calendar client, user OAuth."""
