"""NAVER WORKS: service-account auth, the bot sender (2.0 and legacy 1.0), the calendar client with its event
bodies (2.0 JSON, 1.0 iCalendar), and employees' user OAuth."""
