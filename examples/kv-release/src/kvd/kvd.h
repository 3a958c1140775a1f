/* kvd: the two modes of the one binary. */
#ifndef KVD_H
#define KVD_H

#include <stddef.h>

#define KVD_VERSION "1.0.0"

struct store_config {
  const char *listen;  /* HOST:PORT */
  const char *data;    /* directory of values */
  size_t max_value;    /* bytes */
};

struct web_config {
  const char *listen;
  const char **backends; /* HOST:PORT of kvd store instances, tried in order */
  size_t nbackends;
  const char *instance_name;
  size_t max_body;
};

int run_store(const struct store_config *config);
int run_web(const struct web_config *config);

#endif
