/* bcryptprimitives.dll for Wine 8.0 (Debian 12), which lacks it.
 *
 * Rust's std on Windows takes its random bytes from ProcessPrng in
 * bcryptprimitives.dll (Windows 10+); without the DLL no Rust program
 * starts under that Wine. This stub answers ProcessPrng from RtlGenRandom
 * (advapi32's SystemFunction036), which Wine has. Placed beside the .exe,
 * it is found before the system directory. For tests under Wine only:
 * never shipped. Built by scripts/test_windows.sh:
 *   x86_64-w64-mingw32-gcc -shared -O2 -o bcryptprimitives.dll \
 *       bcryptprimitives.c -ladvapi32
 */
#include <windows.h>

BOOLEAN WINAPI SystemFunction036(PVOID buffer, ULONG length);

__declspec(dllexport) BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len)
{
    while (len > 0) {
        ULONG chunk = len > 0x40000000 ? 0x40000000 : (ULONG)len;
        if (!SystemFunction036(data, chunk))
            return FALSE;
        data += chunk;
        len -= chunk;
    }
    return TRUE;
}
