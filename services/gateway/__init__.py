"""Rupiah payment gateways: one module per provider behind `PaymentGateway`, and a registry."""
