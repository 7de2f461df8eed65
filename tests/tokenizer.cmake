# Tokenizer: parity with the Hugging Face tokenizers library (golden: GSM8K and extra texts through
# GPT-2 and tokenizers built by the fixture) and behaviour / malformed-file errors (unit).
if(TARGET rleif_tokenizer)
  rleif_add_fixture(NAME tokenizer SCRIPT scripts/fixtures/tokenizer_fixtures.py)
  rleif_add_test(NAME tokenizer_parity_test SOURCES golden/tokenizer_parity_test.cc
                 LIBS rleif_tokenizer FIXTURES tokenizer)
  rleif_add_test(NAME tokenizer_test SOURCES unit/tokenizer_test.cc LIBS rleif_tokenizer)
endif()
