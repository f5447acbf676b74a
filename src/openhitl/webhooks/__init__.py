"""Account-level webhook endpoints: CRUD, event filters, secrets, the delivery log and redelivery."""
