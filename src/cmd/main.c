#include <stdio.h>
int main(void)
{
    puts("pgpitr");
    return 0;
}
