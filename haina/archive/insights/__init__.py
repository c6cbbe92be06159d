"""Archive insights: frequent customer questions (clustered), reply-time QA inside working
hours, and the console page with its charts. questions.py and quality.py are pure."""
