print("cvm")
