"""Key validation (the ValidateKey RPC): one small validator per provider kind, the status
tables that turn a provider's answer into a ValidationCode, the base-URL allow-list and the
RPC's own rate limit. No grpc here: `api/validate_key.py` converts messages.

Entry point: `validation.service.KeyValidationService`."""
