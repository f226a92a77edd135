-- An offering's title in Chinese beside the English one: the pages show the one of the reader's
-- language. Optional: a catalog without Chinese titles shows the English title everywhere.
ALTER TABLE offerings ADD COLUMN title_zh text;
