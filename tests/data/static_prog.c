/* A small program linked statically against libstrata.a (tests/static_link.sh). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <dlfcn.h>
static void *thr(void *a) { (void)a; char *p = malloc(100); strcpy(p, "thread"); free(p); return NULL; }
int main(void) {
  char *p = malloc(32); strcpy(p, "hello");
  char *s = strdup("dup"); 
  pthread_t t; pthread_create(&t, 0, thr, 0); pthread_join(t, 0);
  printf("%s %s\n", p, s);
  free(p); free(s);
  extern int strata_heap_check(void);
  printf("check %d\n", strata_heap_check());
  fflush(stdout);
  return 0;
}
