"""Language knowledge the answer checks rely on, stated in general terms and tested on
several domains: sentences with exact offsets, values (numbers, money, dates, durations),
names and their aliases. Built on spaCy's English pipeline (tagger, parser, NER,
lemmatizer), `countryinfo` for countries, demonyms and capitals, and `rapidfuzz`."""
