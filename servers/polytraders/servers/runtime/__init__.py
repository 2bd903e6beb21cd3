"""What every governance bot group stands on: server factory, auth, storage, the report bus."""
