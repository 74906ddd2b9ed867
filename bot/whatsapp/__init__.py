"""The WhatsApp Cloud API channel: webhook, Graph API client, delivery of results."""
