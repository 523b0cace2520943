"""CRM: consumes customer.registered events and sends each new customer a welcome e-mail."""
