"""The Telegram channel: the application, its handlers, Stars payments and result delivery."""
