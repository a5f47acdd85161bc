// leyser/leyser.h: includes the whole public API.

#ifndef LEYSER_LEYSER_H_
#define LEYSER_LEYSER_H_

#include "leyser/audit.h"
#include "leyser/backup.h"
#include "leyser/certificate.h"
#include "leyser/clock.h"
#include "leyser/iterator.h"
#include "leyser/key_provider.h"
#include "leyser/maintenance.h"
#include "leyser/options.h"
#include "leyser/secret.h"
#include "leyser/signing_key.h"
#include "leyser/store.h"
#include "leyser/store_types.h"
#include "leyser/tenant.h"
#include "leyser/write_batch.h"

#endif  // LEYSER_LEYSER_H_
