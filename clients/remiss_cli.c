/* placeholder: replaced in the authenticated-broker work */
#include <stdio.h>
int main(void);
int
main(void)
{
    fputs("error: E_INTERNAL: not built yet\n", stderr);
    return 1;
}
