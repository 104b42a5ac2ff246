"""What an admin can configure per integration: each vendor's fields, their checks and masking, the admin's
updates, the settings as they apply now and the credentials they open (`CompanyCredentials`)."""
