-- 002_seed: seed the three AI providers; plain INSERT (a second run fails on UNIQUE(name, model)).

INSERT INTO ai_providers (name, model, enabled, is_default) VALUES
    ('openai', 'gpt-4o',                   true, true),
    ('claude', 'claude-3-5-sonnet-latest', true, true),
    ('gemini', 'gemini-1.5-pro',           true, true);
