/* libremiss: client library (being written). */
#include "remiss_code.h"
